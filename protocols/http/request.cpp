// HTTP form POST building; see request.h.
#include "protocols/http/request.h"

#include <algorithm>
#include <charconv>

namespace protocols::http {

namespace {

bool is_unreserved(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

} // namespace

std::string url::authority() const
{
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return port == 443 ? h : h + ":" + std::to_string(port);
}

std::optional<url> parse_https_url(std::string_view text)
{
    constexpr std::string_view scheme = "https://";
    if (text.size() > 2048 || text.size() < scheme.size() ||
        !std::equal(scheme.begin(), scheme.end(), text.begin(), [](char a, char b) {
            return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
        })) {
        return std::nullopt;
    }
    if (std::any_of(text.begin(), text.end(), [](char c) {
            return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#';
        })) {
        return std::nullopt;
    }
    std::string_view rest = text.substr(scheme.size());
    std::size_t slash = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, slash);
    url out;
    out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (out.target.front() == '?') {
        out.target.insert(out.target.begin(), '/');
    }
    if (authority.empty() || authority.find('@') != std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view port_text;
    if (authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos || close == 1) {
            return std::nullopt;
        }
        out.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return std::nullopt;
            }
            port_text = after.substr(1);
        }
    } else {
        auto colon = authority.find(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
        }
        if (out.host.empty()) {
            return std::nullopt;
        }
    }
    if (port_text.data() == nullptr) {   // no ':' at all: the default port
        return out;
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
        return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(port);
    return out;
}

std::string form_encode(const form& fields)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    auto encode = [&out](std::string_view part) {
        for (char c : part) {
            if (is_unreserved(c)) {
                out += c;
            } else {
                auto u = static_cast<unsigned char>(c);
                out += '%';
                out += hex[u >> 4];
                out += hex[u & 15];
            }
        }
    };
    for (const auto& [name, value] : fields) {
        if (!out.empty()) {
            out += '&';
        }
        encode(name);
        out += '=';
        encode(value);
    }
    return out;
}

std::string form_post(const url& to, std::string_view encoded_form)
{
    std::string out;
    out.reserve(256 + encoded_form.size());
    out += "POST ";
    out += to.target;
    out += " HTTP/1.1\r\nHost: ";
    out += to.authority();
    out += "\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n"
           "User-Agent: mailprobe\r\nConnection: close\r\nContent-Length: ";
    out += std::to_string(encoded_form.size());
    out += "\r\n\r\n";
    out += encoded_form;
    return out;
}

} // namespace protocols::http
