// RFC 5322 date-time parsing and formatting (see date_time.h).
#include "protocols/message/date_time.h"

#include "protocols/message/field_lexer.h"

#include <algorithm>
#include <array>
#include <chrono>

#include <fmt/format.h>

namespace protocols::message {
namespace {

constexpr std::array<std::string_view, 7> day_names = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> month_names = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct named_zone {
    std::string_view name;
    int offset_minutes;
};
constexpr std::array<named_zone, 10> named_zones = {{
    {"UT", 0}, {"GMT", 0},
    {"EST", -5 * 60}, {"EDT", -4 * 60},
    {"CST", -6 * 60}, {"CDT", -5 * 60},
    {"MST", -7 * 60}, {"MDT", -6 * 60},
    {"PST", -8 * 60}, {"PDT", -7 * 60},
}};

bool all_digits(std::string_view s) noexcept
{
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return !s.empty();
}

// Callers bound the length, so the value fits.
int digits_value(std::string_view s) noexcept
{
    int v = 0;
    for (char c : s) {
        v = v * 10 + (c - '0');
    }
    return v;
}

std::optional<int> parse_zone(std::string_view w) noexcept
{
    if (w.size() == 5 && (w[0] == '+' || w[0] == '-') && all_digits(w.substr(1))) {
        int hours = digits_value(w.substr(1, 2));
        int minutes = digits_value(w.substr(3, 2));
        if (minutes > 59) {
            return std::nullopt;
        }
        int offset = hours * 60 + minutes;
        return w[0] == '-' ? -offset : offset;
    }
    for (const auto& z : named_zones) {
        if (iequals(w, z.name)) {
            return z.offset_minutes;
        }
    }
    // RFC 5322 4.3: military zones were defined with the wrong sign in RFC 822, so their
    // meaning is unknown and they read as -0000 (UTC, zone unknown). 'J' was never a zone.
    if (w.size() == 1) {
        char c = static_cast<char>(w[0] | 0x20);
        if (c >= 'a' && c <= 'z' && c != 'j') {
            return 0;
        }
    }
    return std::nullopt;
}

// hour ":" minute [ ":" second ], each exactly two digits.
bool parse_time_of_day(std::string_view w, int& hour, int& minute, int& second) noexcept
{
    if (w.size() != 5 && w.size() != 8) {
        return false;
    }
    if (w[2] != ':' || !all_digits(w.substr(0, 2)) || !all_digits(w.substr(3, 2))) {
        return false;
    }
    hour = digits_value(w.substr(0, 2));
    minute = digits_value(w.substr(3, 2));
    second = 0;
    if (w.size() == 8) {
        if (w[5] != ':' || !all_digits(w.substr(6, 2))) {
            return false;
        }
        second = digits_value(w.substr(6, 2));
    }
    // 60 is a leap second; it counts as the first second of the next minute.
    return hour <= 23 && minute <= 59 && second <= 60;
}

} // namespace

std::optional<std::int64_t> parse_date_time(std::string_view text) noexcept
{
    using namespace std::chrono;
    field_lexer lex(text);
    token t = lex.next_skipping_comments();
    if (t.kind != token_kind::word) {
        return std::nullopt;
    }
    // day-of-week ","
    for (auto name : day_names) {
        if (iequals(t.text, name)) {
            t = lex.next_skipping_comments();
            if (t.kind != token_kind::special || t.text != ",") {
                return std::nullopt;
            }
            t = lex.next_skipping_comments();
            break;
        }
    }
    // day month year
    if (t.kind != token_kind::word || t.text.size() > 2 || !all_digits(t.text)) {
        return std::nullopt;
    }
    const int day_number = digits_value(t.text);
    t = lex.next_skipping_comments();
    int month_number = 0;
    for (std::size_t i = 0; i < month_names.size() && t.kind == token_kind::word; ++i) {
        if (iequals(t.text, month_names[i])) {
            month_number = static_cast<int>(i) + 1;
        }
    }
    if (month_number == 0) {
        return std::nullopt;
    }
    t = lex.next_skipping_comments();
    if (t.kind != token_kind::word || t.text.size() < 2 || t.text.size() > 4 || !all_digits(t.text)) {
        return std::nullopt;
    }
    int year_number = digits_value(t.text);
    if (t.text.size() == 2) {
        year_number += year_number < 50 ? 2000 : 1900;
    } else if (t.text.size() == 3) {
        year_number += 1900;
    }
    if (year_number < 1900) {
        return std::nullopt;
    }
    // time zone
    t = lex.next_skipping_comments();
    int hour = 0;
    int minute = 0;
    int second = 0;
    if (t.kind != token_kind::word || !parse_time_of_day(t.text, hour, minute, second)) {
        return std::nullopt;
    }
    t = lex.next_skipping_comments();
    if (t.kind != token_kind::word) {
        return std::nullopt;
    }
    auto zone = parse_zone(t.text);
    if (!zone) {
        return std::nullopt;
    }
    if (lex.next_skipping_comments().kind != token_kind::end) {
        return std::nullopt;
    }
    year_month_day ymd{year{year_number}, month{static_cast<unsigned>(month_number)},
                       std::chrono::day{static_cast<unsigned>(day_number)}};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    auto local = sys_days(ymd) + hours(hour) + minutes(minute) + seconds(second);
    auto utc = local - minutes(*zone);
    return duration_cast<milliseconds>(utc.time_since_epoch()).count();
}

std::optional<std::int64_t> parse_internal_date(std::string_view text) noexcept
{
    // "dd-Mon-yyyy hh:mm:ss +zzzz" is 26 bytes; anything much longer is not one.
    std::array<char, 32> buf{};
    if (text.size() > buf.size()) {
        return std::nullopt;
    }
    std::copy(text.begin(), text.end(), buf.begin());
    std::string_view date(buf.data(), text.size());
    // The two dashes of the date part become the spaces of RFC 5322's date; the time's
    // zone may hold a third dash, which stays.
    auto first = date.find('-');
    auto second = first == std::string_view::npos ? first : date.find('-', first + 1);
    auto space = date.find(' ', first == std::string_view::npos ? 0 : first);
    if (second == std::string_view::npos || space < second) {
        return std::nullopt;
    }
    buf[first] = ' ';
    buf[second] = ' ';
    return parse_date_time(date);
}

std::string format_date_time(std::int64_t unix_ms, int utc_offset_minutes)
{
    using namespace std::chrono;
    const auto local = sys_time<milliseconds>(milliseconds(unix_ms)) + minutes(utc_offset_minutes);
    const auto day_start = floor<days>(local);
    const year_month_day ymd(day_start);
    const weekday wd(day_start);
    const hh_mm_ss<milliseconds> tod(local - day_start);
    const int offset = utc_offset_minutes < 0 ? -utc_offset_minutes : utc_offset_minutes;
    return fmt::format("{}, {} {} {:04} {:02}:{:02}:{:02} {}{:02}{:02}", day_names[wd.c_encoding()],
        static_cast<unsigned>(ymd.day()), month_names[static_cast<unsigned>(ymd.month()) - 1],
        static_cast<int>(ymd.year()), tod.hours().count(), tod.minutes().count(), tod.seconds().count(),
        utc_offset_minutes < 0 ? '-' : '+', offset / 60, offset % 60);
}

} // namespace protocols::message
