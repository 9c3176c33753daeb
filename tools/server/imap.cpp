// The built-in server's IMAP side: the RFC 3501 subset a mail monitor needs, with
// LITERAL+ (RFC 7888), SASL-IR (RFC 4959), SPECIAL-USE (RFC 6154), UIDPLUS (RFC 4315) and
// IDLE (RFC 2177).
//
//   command         = tag SP (command-any / command-auth / command-nonauth /
//                     command-select) CRLF
//   command-any     = "CAPABILITY" / "LOGOUT" / "NOOP"
//   command-nonauth = login / authenticate / "STARTTLS"
//   command-auth    = append / create / delete / examine / list / lsub / rename /
//                     select / status / subscribe / unsubscribe / idle
//   command-select  = "CHECK" / "CLOSE" / "EXPUNGE" / copy / fetch / store / uid / search
//   uid             = "UID" SP (copy / fetch / search / store / uid-expunge)
//   sequence-set    = (seq-number / seq-range) *("," sequence-set)
//
// It refuses lines and literals over the limits (BYE and close), LOGIN/AUTHENTICATE in the
// clear on a STARTTLS listener (LOGINDISABLED), folder creation (the five special-use
// folders are fixed), COPY/MOVE, and search keys beyond HEADER, SUBJECT, FROM, TO, TEXT,
// UID, sequence sets and the flag keys. Not a production server (see server.h).
#include "protocols/common/sasl.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "tools/server/imap_tokens.h"
#include "tools/server/oauth.h"
#include "tools/server/session_io.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <string>
#include <vector>

namespace builtin::detail {

namespace {

using builtin::imap::token;
using engine::task;
using tk = token::kind;

// A hostile client could otherwise send "1,2,3,...": one range per byte of the line.
constexpr std::size_t max_set_ranges = 4096;
constexpr int max_literals_per_command = 16;

struct seq_range {
    std::uint32_t lo;
    std::uint32_t hi;
};

bool parse_number(std::string_view s, std::uint32_t star, std::uint32_t& out) noexcept
{
    if (s == "*") {
        out = star;
        return true;
    }
    if (s.empty() || s.size() > 10) {
        return false;
    }
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v == 0 || v > 0xffffffffu) {
        return false;
    }
    out = static_cast<std::uint32_t>(v);
    return true;
}

/// sequence-set into ranges (lo <= hi), '*' standing for `star`.
bool parse_set(std::string_view text, std::uint32_t star, std::vector<seq_range>& out)
{
    out.clear();
    while (!text.empty()) {
        auto comma = text.find(',');
        auto part = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        if (comma != std::string_view::npos && text.empty()) {
            return false;
        }
        auto colon = part.find(':');
        std::uint32_t a = 0;
        std::uint32_t b = 0;
        if (!parse_number(part.substr(0, colon), star, a)
            || !parse_number(colon == std::string_view::npos ? part : part.substr(colon + 1), star, b)) {
            return false;
        }
        out.push_back({std::min(a, b), std::max(a, b)});
        if (out.size() > max_set_ranges) {
            return false;
        }
    }
    return !out.empty();
}

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool icontains(std::string_view hay, std::string_view needle) noexcept
{
    if (needle.empty()) {
        return true;
    }
    auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
        [](char a, char b) { return lower(a) == lower(b); });
    return it != hay.end();
}

/// '*' and '%' match any run (the folders here have no hierarchy); case-insensitive.
bool glob(std::string_view pattern, std::string_view name) noexcept
{
    if (pattern.empty()) {
        return name.empty();
    }
    if (pattern[0] == '*' || pattern[0] == '%') {
        for (std::size_t i = 0; i <= name.size(); ++i) {
            if (glob(pattern.substr(1), name.substr(i))) {
                return true;
            }
        }
        return false;
    }
    return !name.empty() && lower(pattern[0]) == lower(name[0]) && glob(pattern.substr(1), name.substr(1));
}

/// The bit of a system flag; 0 for keywords (accepted, not stored); nullopt for \Recent
/// and other unknown backslash names.
std::optional<std::uint8_t> flag_bit(std::string_view name) noexcept
{
    if (!name.starts_with('\\')) {
        return std::uint8_t{0};
    }
    if (iequals(name, "\\Seen")) {
        return flags::seen;
    }
    if (iequals(name, "\\Answered")) {
        return flags::answered;
    }
    if (iequals(name, "\\Flagged")) {
        return flags::flagged;
    }
    if (iequals(name, "\\Deleted")) {
        return flags::deleted;
    }
    if (iequals(name, "\\Draft")) {
        return flags::draft;
    }
    return std::nullopt;
}

void append_flags(std::string& out, std::uint8_t f)
{
    out.push_back('(');
    std::size_t start = out.size();
    auto add = [&](std::uint8_t bit, std::string_view name) {
        if (f & bit) {
            if (out.size() != start) {
                out.push_back(' ');
            }
            out.append(name);
        }
    };
    add(flags::answered, "\\Answered");
    add(flags::flagged, "\\Flagged");
    add(flags::deleted, "\\Deleted");
    add(flags::seen, "\\Seen");
    add(flags::draft, "\\Draft");
    out.push_back(')');
}

void append_internal_date(std::string& out, std::int64_t secs)
{
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, months[tm.tm_mon],
        tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    out.append(buf);
}

void append_literal(std::string& out, std::string_view bytes)
{
    out.push_back('{');
    out.append(std::to_string(bytes.size()));
    out.append("}\r\n");
    out.append(bytes);
}

std::int64_t now_seconds()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace item {
inline constexpr unsigned uid = 1, flags = 2, internaldate = 4, size = 8, header = 16, body = 32,
                          rfc822_header = 64, sets_seen = 128, rfc822 = 256;
}

std::optional<unsigned> fetch_item(std::string_view a) noexcept
{
    if (iequals(a, "UID")) {
        return item::uid;
    }
    if (iequals(a, "FLAGS")) {
        return item::flags;
    }
    if (iequals(a, "INTERNALDATE")) {
        return item::internaldate;
    }
    if (iequals(a, "RFC822.SIZE")) {
        return item::size;
    }
    if (iequals(a, "FAST")) {
        return item::flags | item::internaldate | item::size;
    }
    if (iequals(a, "BODY.PEEK[HEADER]")) {
        return item::header;
    }
    if (iequals(a, "BODY[HEADER]")) {
        return item::header | item::sets_seen;
    }
    if (iequals(a, "BODY.PEEK[]")) {
        return item::body;
    }
    if (iequals(a, "BODY[]")) {
        return item::body | item::sets_seen;
    }
    if (iequals(a, "RFC822.HEADER")) {
        return item::rfc822_header;
    }
    if (iequals(a, "RFC822")) {
        return item::rfc822 | item::sets_seen;
    }
    return std::nullopt;
}

struct criterion {
    enum class kind : std::uint8_t { all, flag_set, flag_clear, header, text, uid_set, seq_set };
    kind what = kind::all;
    std::uint8_t flag = 0;
    std::string field;
    std::string value;
    std::vector<seq_range> ranges;
};

class imap_session {
public:
    imap_session(context* ctx, const listener_config* lc, engine::connection& c)
        : m_ctx(ctx), m_lc(lc), m_io(c, ctx->cfg->limits)
    {
    }

    task<void> run();

private:
    enum class next_step : std::uint8_t { go_on, close };

    bool auth_allowed() const noexcept { return m_tls || m_lc->tls == protocols::tls_mode::none; }
    std::string capabilities() const;
    void tagged(std::string_view text);
    void announce();
    task<engine::result<bool>> read_command();
    task<engine::result<next_step>> dispatch();
    void login(imap::tokenizer& t);
    task<engine::result<void>> authenticate(imap::tokenizer& t);
    void select(imap::tokenizer& t, bool read_only);
    void list(imap::tokenizer& t);
    void status(imap::tokenizer& t);
    void append(imap::tokenizer& t);
    bool collect(std::string_view set, bool uid_mode);
    task<engine::result<void>> fetch(imap::tokenizer& t, bool uid_mode);
    void store_flags(imap::tokenizer& t, bool uid_mode);
    void search(imap::tokenizer& t, bool uid_mode);
    void expunge(const std::vector<std::uint32_t>* only);
    task<engine::result<void>> idle();

    context* m_ctx;
    const listener_config* m_lc;
    line_io m_io;
    bool m_tls = false;
    mailbox* m_user = nullptr;
    folder* m_selected = nullptr;
    bool m_read_only = false;
    std::size_t m_known = 0;   // the EXISTS count this session was told
    std::string m_cmd;         // the assembled command, literals inline
    std::string m_tag;
    std::string m_scratch;
    std::string m_scratch2;
    std::vector<seq_range> m_ranges;
    std::vector<std::uint32_t> m_uids;
};

std::string imap_session::capabilities() const
{
    std::string caps = "IMAP4rev1 LITERAL+ SASL-IR SPECIAL-USE UIDPLUS IDLE";
    if (!m_tls && m_lc->tls == protocols::tls_mode::starttls) {
        caps += " STARTTLS";
    }
    if (!auth_allowed()) {
        caps += " LOGINDISABLED";
    } else {
        caps += m_ctx->cfg->accept_token ? (m_ctx->cfg->bearer_xoauth2 ? " AUTH=XOAUTH2 AUTH=OAUTHBEARER" : " AUTH=OAUTHBEARER")
                                         : " AUTH=PLAIN";
    }
    return caps;
}

void imap_session::announce()
{
    if (m_selected && m_selected->size() != m_known) {
        m_known = m_selected->size();
        m_io.out().append("* ").append(std::to_string(m_known)).append(" EXISTS\r\n");
    }
}

void imap_session::tagged(std::string_view text)
{
    announce();
    m_io.out().append(m_tag).append(" ").append(text).append("\r\n");
}

task<engine::result<bool>> imap_session::read_command()
{
    const auto& lim = m_ctx->cfg->limits;
    if (m_cmd.capacity() > 1024 * 1024) {
        m_cmd = std::string();   // an APPEND is over: an idle session keeps no large buffer
    }
    m_cmd.clear();
    int literals = 0;
    for (;;) {
        auto l = co_await m_io.line();
        if (!l) {
            co_return std::move(l).err();
        }
        auto head = imap::trailing_literal(*l);
        m_cmd.append(*l).append("\r\n");
        if (!head) {
            co_return true;
        }
        if (head->size > lim.max_message || ++literals > max_literals_per_command
            || m_cmd.size() + head->size > lim.max_message + lim.max_line) {
            m_io.reply("* BYE [LIMIT] Literal too big\r\n");
            (void)co_await m_io.flush();
            co_return false;
        }
        if (!head->non_sync) {
            m_io.reply("+ Ready for literal data\r\n");
        }
        if (auto b = co_await m_io.bytes(head->size, m_cmd); !b) {
            co_return std::move(b).err();
        }
    }
}

void imap_session::login(imap::tokenizer& t)
{
    token u = t.next();
    token p = t.next();
    if (!u.is_string() || !p.is_string() || t.next().what != tk::end) {
        tagged("BAD Syntax: LOGIN user password");
        return;
    }
    if (!auth_allowed()) {
        tagged("NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections");
        return;
    }
    // With bearer tokens only, LOGIN fails like Exchange Online's does without basic auth.
    m_user = m_ctx->cfg->accept_token ? nullptr : m_ctx->mail->authenticate(imap::value(u, m_scratch), imap::value(p, m_scratch2));
    tagged(m_user ? "OK [CAPABILITY " + capabilities() + "] Logged in" : std::string("NO [AUTHENTICATIONFAILED] Authentication failed."));
}

task<engine::result<void>> imap_session::authenticate(imap::tokenizer& t)
{
    token mech = t.next();
    token initial = t.next();
    if (mech.what != tk::atom) {
        tagged("BAD Syntax: AUTHENTICATE mechanism");
        co_return engine::result<void>{};
    }
    if (!auth_allowed()) {
        tagged("NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections");
        co_return engine::result<void>{};
    }
    if (m_ctx->cfg->accept_token) {
        auto bearer = bearer_mechanism(*m_ctx->cfg, mech.text);
        if (!bearer) {
            tagged("NO [CANNOT] Unsupported authentication mechanism");
            co_return engine::result<void>{};
        }
        // Copied before reading on: the token views die with the line.
        auto ir = initial.what == tk::atom ? std::optional<std::string>(initial.text) : std::nullopt;
        auto user = co_await bearer_login(m_ctx, &m_io, "+ ", std::move(ir), *bearer);
        if (!user) {
            co_return std::move(user).err();
        }
        m_user = *user;
        tagged(m_user ? "OK [CAPABILITY " + capabilities() + "] Logged in"
                      : std::string("NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)"));
        co_return engine::result<void>{};
    }
    if (!iequals(mech.text, "PLAIN")) {
        tagged("NO [CANNOT] Unsupported authentication mechanism");
        co_return engine::result<void>{};
    }
    std::string response;
    if (initial.what == tk::atom) {
        response.assign(initial.text == "=" ? std::string_view{} : initial.text);
    } else {
        m_io.reply("+ \r\n");
        auto l = co_await m_io.line();
        if (!l) {
            co_return std::move(l).err();
        }
        response.assign(*l);
        if (response == "*") {
            tagged("BAD Authentication aborted by client");
            co_return engine::result<void>{};
        }
    }
    auto decoded = protocols::sasl::base64_decode(response);
    std::string_view v = decoded.value;
    auto nul1 = v.find('\0');
    auto nul2 = nul1 == std::string_view::npos ? nul1 : v.find('\0', nul1 + 1);
    if (!decoded.ok() || nul2 == std::string_view::npos) {
        tagged("BAD Invalid base64 or PLAIN message");
        co_return engine::result<void>{};
    }
    auto authzid = v.substr(0, nul1);
    auto authcid = v.substr(nul1 + 1, nul2 - nul1 - 1);
    if (authzid.empty() || authzid == authcid) {
        m_user = m_ctx->mail->authenticate(authcid, v.substr(nul2 + 1));
    }
    tagged(m_user ? "OK [CAPABILITY " + capabilities() + "] Logged in" : std::string("NO [AUTHENTICATIONFAILED] Authentication failed."));
    co_return engine::result<void>{};
}

void imap_session::select(imap::tokenizer& t, bool read_only)
{
    token name = t.next();
    if (!name.is_string()) {
        tagged("BAD Syntax: SELECT mailbox");
        return;
    }
    m_selected = nullptr;
    folder* f = m_user->find_folder(imap::value(name, m_scratch));
    if (!f) {
        tagged("NO [NONEXISTENT] Mailbox doesn't exist");
        return;
    }
    m_selected = f;
    m_read_only = read_only;
    m_known = f->size();
    auto& o = m_io.out();
    o.append("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
    o.append("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] Limited\r\n");
    o.append("* ").append(std::to_string(m_known)).append(" EXISTS\r\n* 0 RECENT\r\n");
    o.append("* OK [UIDVALIDITY ").append(std::to_string(f->uid_validity())).append("] UIDs valid\r\n");
    o.append("* OK [UIDNEXT ").append(std::to_string(f->uid_next())).append("] Predicted next UID\r\n");
    tagged(read_only ? "OK [READ-ONLY] Examine completed" : "OK [READ-WRITE] Select completed");
}

void imap_session::list(imap::tokenizer& t)
{
    token ref = t.next();
    if (ref.what == tk::open) {   // LIST-EXTENDED selection options: every folder qualifies
        while (ref.what != tk::close && ref.what != tk::end && ref.what != tk::error) {
            ref = t.next();
        }
        ref = t.next();
    }
    token pattern = t.next();
    if (!ref.is_string() || !pattern.is_string()) {
        tagged("BAD Syntax: LIST reference pattern");
        return;
    }
    auto pat = imap::value(pattern, m_scratch);
    auto& o = m_io.out();
    if (pat.empty()) {
        o.append("* LIST (\\Noselect) \"/\" \"\"\r\n");
    } else {
        for (const auto& f : m_user->folders()) {
            if (glob(pat, f.name())) {
                o.append("* LIST (\\HasNoChildren");
                if (!f.special_use().empty()) {
                    o.append(" ").append(f.special_use());
                }
                o.append(") \"/\" ").append(f.name()).append("\r\n");
            }
        }
    }
    tagged("OK List completed");
}

void imap_session::status(imap::tokenizer& t)
{
    token name = t.next();
    if (!name.is_string() || t.next().what != tk::open) {
        tagged("BAD Syntax: STATUS mailbox (items)");
        return;
    }
    const folder* f = m_user->find_folder(imap::value(name, m_scratch));
    if (!f) {
        tagged("NO [NONEXISTENT] Mailbox doesn't exist");
        return;
    }
    std::string items;
    for (token it = t.next(); it.what == tk::atom; it = t.next()) {
        std::size_t n = 0;
        if (iequals(it.text, "MESSAGES")) {
            n = f->size();
        } else if (iequals(it.text, "UIDNEXT")) {
            n = f->uid_next();
        } else if (iequals(it.text, "UIDVALIDITY")) {
            n = f->uid_validity();
        } else if (iequals(it.text, "UNSEEN")) {
            for (const auto& m : f->messages()) {
                n += (m.flags & flags::seen) ? 0 : 1;
            }
        } else if (!iequals(it.text, "RECENT")) {
            tagged("BAD Unknown STATUS item");
            return;
        }
        items.append(items.empty() ? "" : " ").append(it.text).append(" ").append(std::to_string(n));
    }
    m_io.out().append("* STATUS ").append(f->name()).append(" (").append(items).append(")\r\n");
    tagged("OK Status completed");
}

void imap_session::append(imap::tokenizer& t)
{
    token name = t.next();
    if (!name.is_string()) {
        tagged("BAD Syntax: APPEND mailbox [flags] [date] literal");
        return;
    }
    folder* f = m_user->find_folder(imap::value(name, m_scratch));
    std::uint8_t message_flags = 0;
    token next = t.next();
    if (next.what == tk::open) {
        for (next = t.next(); next.what == tk::atom; next = t.next()) {
            auto bit = flag_bit(next.text);
            if (!bit) {
                tagged("BAD Invalid flag");
                return;
            }
            message_flags = static_cast<std::uint8_t>(message_flags | *bit);
        }
        if (next.what != tk::close) {
            tagged("BAD Syntax: APPEND flag list");
            return;
        }
        next = t.next();
    }
    if (next.what == tk::quoted) {
        next = t.next();   // the date-time: INTERNALDATE is the arrival here, as on many servers
    }
    if (next.what != tk::literal) {
        tagged("BAD Syntax: APPEND needs a literal");
        return;
    }
    if (!f) {
        tagged("NO [TRYCREATE] Mailbox doesn't exist");
        return;
    }
    auto uid = f->append(std::string(next.text), now_seconds(), message_flags);
    m_user->notify();
    tagged("OK [APPENDUID " + std::to_string(f->uid_validity()) + " " + std::to_string(uid) + "] Append completed");
}

bool imap_session::collect(std::string_view set, bool uid_mode)
{
    auto msgs = m_selected->messages();
    std::uint32_t star = msgs.empty() ? (uid_mode ? m_selected->uid_next() : 1)
                                      : (uid_mode ? msgs.back().uid : static_cast<std::uint32_t>(msgs.size()));
    if (!parse_set(set, star, m_ranges)) {
        return false;
    }
    m_uids.clear();
    for (const auto& r : m_ranges) {
        if (uid_mode) {
            for (std::size_t i = m_selected->lower_bound(r.lo); i < msgs.size() && msgs[i].uid <= r.hi; ++i) {
                m_uids.push_back(msgs[i].uid);
            }
        } else {
            for (std::size_t s = r.lo; s <= r.hi && s <= msgs.size(); ++s) {
                m_uids.push_back(msgs[s - 1].uid);
            }
        }
    }
    std::sort(m_uids.begin(), m_uids.end());
    m_uids.erase(std::unique(m_uids.begin(), m_uids.end()), m_uids.end());
    return true;
}

task<engine::result<void>> imap_session::fetch(imap::tokenizer& t, bool uid_mode)
{
    token set = t.next();
    token what = t.next();
    unsigned items = uid_mode ? item::uid : 0;
    bool ok = set.what == tk::atom;
    if (what.what == tk::open) {
        for (what = t.next(); ok && what.what == tk::atom; what = t.next()) {
            auto i = fetch_item(what.text);
            ok = i.has_value();
            items |= i.value_or(0);
        }
        ok = ok && what.what == tk::close;
    } else if (what.what == tk::atom) {
        auto i = fetch_item(what.text);
        ok = ok && i.has_value();
        items |= i.value_or(0);
    } else {
        ok = false;
    }
    if (!ok || !collect(set.text, uid_mode)) {
        tagged("BAD Syntax or unsupported FETCH item");
        co_return engine::result<void>{};
    }
    std::vector<std::uint32_t> uids;
    uids.swap(m_uids);
    auto& o = m_io.out();
    for (auto uid : uids) {
        std::size_t i = m_selected->find(uid);
        if (i == m_selected->size()) {
            continue;   // expunged by another session while we were writing
        }
        auto& m = m_selected->messages()[i];
        if ((items & item::sets_seen) && !m_read_only) {
            m.flags |= flags::seen;
        }
        o.append("* ").append(std::to_string(i + 1)).append(" FETCH (");
        std::size_t start = o.size();
        auto sep = [&] {
            if (o.size() != start) {
                o.push_back(' ');
            }
        };
        if (items & item::uid) {
            o.append("UID ").append(std::to_string(m.uid));
        }
        if (items & item::flags) {
            sep();
            o.append("FLAGS ");
            append_flags(o, m.flags);
        }
        if (items & item::internaldate) {
            sep();
            o.append("INTERNALDATE ");
            append_internal_date(o, m.internal_date);
        }
        if (items & item::size) {
            sep();
            o.append("RFC822.SIZE ").append(std::to_string(m.bytes.size()));
        }
        if (items & item::rfc822_header) {
            sep();
            o.append("RFC822.HEADER ");
            append_literal(o, m.header());
        }
        if (items & item::header) {
            sep();
            o.append("BODY[HEADER] ");
            append_literal(o, m.header());
        }
        if (items & item::body) {
            sep();
            o.append("BODY[] ");
            append_literal(o, m.bytes);
        }
        if (items & item::rfc822) {
            sep();
            o.append("RFC822 ");
            append_literal(o, m.bytes);
        }
        o.append(")\r\n");
        if (o.size() > 256 * 1024) {
            if (auto f = co_await m_io.flush(); !f) {
                co_return f;
            }
        }
    }
    uids.swap(m_uids);
    tagged(uid_mode ? "OK UID FETCH completed" : "OK Fetch completed");
    co_return engine::result<void>{};
}

void imap_session::store_flags(imap::tokenizer& t, bool uid_mode)
{
    token set = t.next();
    token op = t.next();
    if (set.what != tk::atom || op.what != tk::atom) {
        tagged("BAD Syntax: STORE set flags-op flags");
        return;
    }
    std::string_view verb = op.text;
    bool silent = verb.size() > 7 && iequals(verb.substr(verb.size() - 7), ".SILENT");
    if (silent) {
        verb.remove_suffix(7);
    }
    int mode = iequals(verb, "+FLAGS") ? 1 : iequals(verb, "-FLAGS") ? -1 : iequals(verb, "FLAGS") ? 0 : 2;
    std::uint8_t bits = 0;
    bool ok = mode != 2;
    token f = t.next();
    bool list = f.what == tk::open;
    if (list) {
        f = t.next();
    }
    for (; ok && f.what == tk::atom; f = t.next()) {
        auto bit = flag_bit(f.text);
        ok = bit.has_value();
        bits = static_cast<std::uint8_t>(bits | bit.value_or(0));
    }
    ok = ok && (list ? f.what == tk::close : f.what == tk::end);
    if (!ok || !collect(set.text, uid_mode)) {
        tagged("BAD Syntax or unknown flag in STORE");
        return;
    }
    if (m_read_only) {
        tagged("NO [READ-ONLY] Mailbox is read-only");
        return;
    }
    auto msgs = m_selected->messages();
    for (auto uid : m_uids) {
        std::size_t i = m_selected->find(uid);
        auto& m = msgs[i];
        m.flags = static_cast<std::uint8_t>(mode == 1 ? (m.flags | bits) : mode == -1 ? (m.flags & ~bits) : bits);
        if (!silent) {
            auto& o = m_io.out();
            o.append("* ").append(std::to_string(i + 1)).append(" FETCH (UID ").append(std::to_string(uid)).append(" FLAGS ");
            append_flags(o, m.flags);
            o.append(")\r\n");
        }
    }
    tagged(uid_mode ? "OK UID STORE completed" : "OK Store completed");
}

void imap_session::search(imap::tokenizer& t, bool uid_mode)
{
    std::vector<criterion> keys;
    auto string_arg = [&](std::string& into) {
        token s = t.next();
        if (!s.is_string()) {
            return false;
        }
        into.assign(imap::value(s, m_scratch));
        return true;
    };
    auto msgs = m_selected->messages();
    bool ok = true;
    for (token k = t.next(); ok && k.what != tk::end; k = t.next()) {
        criterion c;
        std::string_view a = k.text;
        if (k.what != tk::atom) {
            ok = false;
        } else if (iequals(a, "CHARSET")) {
            token cs = t.next();
            ok = cs.is_string() && (iequals(cs.text, "UTF-8") || iequals(cs.text, "US-ASCII"));
            continue;
        } else if (iequals(a, "ALL")) {
            c.what = criterion::kind::all;
        } else if (auto bit = iequals(a, "DELETED") || iequals(a, "UNDELETED") ? flags::deleted
                       : iequals(a, "SEEN") || iequals(a, "UNSEEN")       ? flags::seen
                       : iequals(a, "FLAGGED") || iequals(a, "UNFLAGGED") ? flags::flagged
                       : iequals(a, "ANSWERED") || iequals(a, "UNANSWERED") ? flags::answered
                       : iequals(a, "DRAFT") || iequals(a, "UNDRAFT")     ? flags::draft
                                                                           : 0) {
            c.what = a.size() >= 2 && iequals(a.substr(0, 2), "UN") ? criterion::kind::flag_clear : criterion::kind::flag_set;
            c.flag = bit;
        } else if (iequals(a, "HEADER")) {
            c.what = criterion::kind::header;
            ok = string_arg(c.field) && string_arg(c.value);
        } else if (iequals(a, "SUBJECT") || iequals(a, "FROM") || iequals(a, "TO") || iequals(a, "CC")) {
            c.what = criterion::kind::header;
            c.field.assign(a);
            ok = string_arg(c.value);
        } else if (iequals(a, "TEXT") || iequals(a, "BODY")) {
            c.what = criterion::kind::text;
            ok = string_arg(c.value);
        } else if (iequals(a, "UID")) {
            token s = t.next();
            c.what = criterion::kind::uid_set;
            ok = s.what == tk::atom && parse_set(s.text, msgs.empty() ? 1 : msgs.back().uid, c.ranges);
        } else {
            c.what = criterion::kind::seq_set;
            ok = parse_set(a, static_cast<std::uint32_t>(msgs.empty() ? 1 : msgs.size()), c.ranges);
        }
        keys.push_back(std::move(c));
    }
    if (!ok) {
        tagged("BAD Syntax or unsupported SEARCH key");
        return;
    }
    auto in = [](const std::vector<seq_range>& rs, std::uint32_t v) {
        return std::any_of(rs.begin(), rs.end(), [v](const seq_range& r) { return v >= r.lo && v <= r.hi; });
    };
    auto& o = m_io.out();
    o.append("* SEARCH");
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto& m = msgs[i];
        bool match = std::all_of(keys.begin(), keys.end(), [&](const criterion& c) {
            switch (c.what) {
            case criterion::kind::all: return true;
            case criterion::kind::flag_set: return (m.flags & c.flag) != 0;
            case criterion::kind::flag_clear: return (m.flags & c.flag) == 0;
            case criterion::kind::header: return header_value(m.header(), c.field, m_scratch2) && icontains(m_scratch2, c.value);
            case criterion::kind::text: return icontains(m.bytes, c.value);
            case criterion::kind::uid_set: return in(c.ranges, m.uid);
            case criterion::kind::seq_set: return in(c.ranges, static_cast<std::uint32_t>(i + 1));
            }
            return false;
        });
        if (match) {
            o.append(" ").append(std::to_string(uid_mode ? m.uid : i + 1));
        }
    }
    o.append("\r\n");
    tagged(uid_mode ? "OK UID SEARCH completed" : "OK Search completed");
}

void imap_session::expunge(const std::vector<std::uint32_t>* only)
{
    auto& o = m_io.out();
    m_selected->expunge(
        [only](const stored_message& m) {
            return (m.flags & flags::deleted) && (!only || std::binary_search(only->begin(), only->end(), m.uid));
        },
        [this, &o](std::size_t seq) {
            o.append("* ").append(std::to_string(seq)).append(" EXPUNGE\r\n");
            if (m_known > 0) {
                --m_known;
            }
        });
}

task<void> nap(engine::deadline until)
{
    co_await engine::sleep_until(until);
}

task<engine::result<void>> imap_session::idle()
{
    m_io.reply("+ idling\r\n");
    const auto& lim = m_ctx->cfg->limits;
    auto until = engine::after(lim.idle_push);
    for (;;) {
        if (m_selected && m_selected->size() != m_known) {
            announce();
            break;
        }
        if (engine::clock::now() >= until) {
            m_io.reply("* OK Still here\r\n");
            break;
        }
        if (auto f = co_await m_io.flush(); !f) {
            co_return f;
        }
        // A delivery stops this scope (mailbox::notify); so does a server stop, through join.
        engine::scope wake;
        m_user->add_idler(&wake);
        wake.spawn(nap(until));
        co_await wake.join();
        m_user->remove_idler(&wake);
        if ((co_await engine::current_stop_token()).stop_requested()) {
            co_return engine::make_error(engine::stage::none, engine::errc::cancelled, "server stopping");
        }
    }
    auto l = co_await m_io.line();
    if (!l) {
        co_return std::move(l).err();
    }
    tagged(iequals(*l, "DONE") ? "OK Idle completed" : "BAD Expected DONE");
    co_return engine::result<void>{};
}

task<engine::result<imap_session::next_step>> imap_session::dispatch()
{
    imap::tokenizer t(m_cmd);
    token tag = t.next();
    if (tag.what != tk::atom || tag.text == "*" || tag.text == "+") {
        m_io.reply("* BAD Missing tag\r\n");
        co_return next_step::go_on;
    }
    m_tag.assign(tag.text);
    token cmd = t.next();
    bool uid_mode = false;
    if (cmd.what == tk::atom && iequals(cmd.text, "UID")) {
        uid_mode = true;
        cmd = t.next();
    }
    if (cmd.what != tk::atom) {
        tagged("BAD Missing command");
        co_return next_step::go_on;
    }
    auto is = [&cmd](std::string_view name) { return iequals(cmd.text, name); };
    if (is("CAPABILITY")) {
        m_io.out().append("* CAPABILITY ").append(capabilities()).append("\r\n");
        tagged("OK Capability completed");
    } else if (is("NOOP") || is("CHECK")) {
        tagged("OK NOOP completed");
    } else if (is("LOGOUT")) {
        m_io.reply("* BYE Logging out\r\n");
        tagged("OK Logout completed");
        (void)co_await m_io.flush();
        co_return next_step::close;
    } else if (is("STARTTLS")) {
        if (m_tls || m_lc->tls != protocols::tls_mode::starttls) {
            tagged("BAD STARTTLS not available");
            co_return next_step::go_on;
        }
        tagged("OK Begin TLS negotiation now");
        const auto upgraded = co_await m_io.upgrade(m_ctx->tls);
        if (!upgraded) {
            co_return next_step::close;
        }
        m_tls = true;
    } else if (!m_user && (is("LOGIN") || is("AUTHENTICATE"))) {
        if (is("LOGIN")) {
            login(t);
        } else if (auto a = co_await authenticate(t); !a) {
            co_return std::move(a).err();
        }
    } else if (!m_user) {
        tagged("BAD Command not allowed before login");
    } else if (is("SELECT") || is("EXAMINE")) {
        select(t, is("EXAMINE"));
    } else if (is("LIST") || is("LSUB")) {
        list(t);
    } else if (is("STATUS")) {
        status(t);
    } else if (is("APPEND")) {
        append(t);
    } else if (is("IDLE")) {
        if (auto r = co_await idle(); !r) {
            co_return std::move(r).err();
        }
    } else if (!m_selected) {
        tagged("BAD No mailbox selected");
    } else if (is("FETCH")) {
        if (auto r = co_await fetch(t, uid_mode); !r) {
            co_return std::move(r).err();
        }
    } else if (is("STORE")) {
        store_flags(t, uid_mode);
    } else if (is("SEARCH")) {
        search(t, uid_mode);
    } else if (is("EXPUNGE")) {
        if (m_read_only) {
            tagged("NO [READ-ONLY] Mailbox is read-only");
        } else if (uid_mode) {
            token set = t.next();
            if (set.what != tk::atom || !collect(set.text, true)) {
                tagged("BAD Syntax: UID EXPUNGE set");
            } else {
                auto only = m_uids;
                expunge(&only);
                tagged("OK UID EXPUNGE completed");
            }
        } else {
            expunge(nullptr);
            tagged("OK Expunge completed");
        }
    } else if (is("CLOSE") || is("UNSELECT")) {
        if (is("CLOSE") && !m_read_only) {
            m_selected->expunge([](const stored_message& m) { return (m.flags & flags::deleted) != 0; },
                [](std::size_t) {});
        }
        m_selected = nullptr;
        tagged("OK Close completed");
    } else {
        tagged("BAD Unknown or unsupported command");
    }
    co_return next_step::go_on;
}

task<void> imap_session::run()
{
    if (m_lc->tls == protocols::tls_mode::implicit) {
        const auto upgraded = co_await m_io.upgrade(m_ctx->tls);
        if (!upgraded) {
            co_return;
        }
        m_tls = true;
    }
    m_io.out().append("* OK [CAPABILITY ").append(capabilities()).append("] ").append(m_ctx->cfg->hostname)
        .append(" builtin IMAP ready (not a production server)\r\n");
    for (;;) {
        auto r = co_await read_command();
        if (!r) {
            if (r.err().code == engine::errc::buffer_full) {
                m_io.reply("* BYE [LIMIT] Line too long\r\n");
                (void)co_await m_io.flush();
            }
            co_return;
        }
        if (!*r) {
            co_return;
        }
        auto step = co_await dispatch();
        if (!step || *step == next_step::close) {
            co_return;
        }
    }
}

} // namespace

task<void> serve_imap(context* ctx, const listener_config* lc, engine::connection c)
{
    {
        imap_session s(ctx, lc, c);
        co_await s.run();
    }
    co_await c.close();
}

} // namespace builtin::detail
