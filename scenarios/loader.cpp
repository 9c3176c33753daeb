// Scenario file loader on simdjson's on-demand API. This is the only translation unit that
// includes simdjson.h (the header alone costs seconds to compile).
//
// The walk is one pass in document order: each object's fields are matched against the keys
// it allows, so an unknown key, a duplicate or a missing required key is reported where it
// is. Fields a "defaults" block can supply are remembered as unset and filled in at the end,
// because "defaults" may come after the probes in the file. A type error leaves the value
// unconsumed and on-demand skips it, so the walk goes on and reports further problems; a
// syntax error ends the walk, since the structure after it is unknown.
//
// Refuses secrets given as plain strings (a password must say where it comes from), secret
// files that are not regular files or exceed 64 KiB, and every value out of its range.
#include "scenarios/loader.h"

#include "scenarios/validate.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sys/stat.h>
#include <type_traits>
#include <unordered_set>
#include <utility>

namespace scenarios {

namespace {

namespace od = simdjson::ondemand;
using std::chrono::milliseconds;

constexpr std::size_t max_secret_file_bytes = 64 * 1024;
constexpr std::size_t max_string_bytes = 4096;
constexpr std::size_t max_name_bytes = 128;
// A probe may run at most once a day and wait at most a day; anything longer is a typo.
constexpr milliseconds max_duration{24LL * 3600 * 1000};

// A user-written string for a message: quoted, control bytes escaped, capped. Never used on
// secret values.
std::string quote_text(std::string_view s)
{
    std::string out = "'";
    for (std::size_t i = 0; i < s.size() && i < 80; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (s.size() > 80) {
        out += "...";
    }
    out += '\'';
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = up;
        }
    }
    return row[b.size()];
}

// " (did you mean 'protocol'?)" when one candidate is close enough to be the intended word.
template <std::size_t N>
std::string did_you_mean(std::string_view word, const std::array<std::string_view, N>& candidates)
{
    if (word.size() > 64) {
        return {};
    }
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (std::string_view c : candidates) {
        // A truncated key ("prot") means its completion, even when another key is closer.
        std::size_t d = word.size() >= 3 && c.starts_with(word) ? 0 : edit_distance(word, c);
        if (d < best_distance) {
            best_distance = d;
            best = c;
        }
    }
    if (best_distance <= std::max<std::size_t>(2, best.size() / 3)) {
        return " (did you mean " + quote_text(best) + "?)";
    }
    return {};
}

template <std::size_t N>
std::string one_of(const std::array<std::string_view, N>& names)
{
    std::string out;
    for (std::size_t i = 0; i < N; ++i) {
        out += i == 0 ? "" : i + 1 == N ? " or " : ", ";
        out += names[i];
    }
    return out;
}

void append_pointer_token(std::string& path, std::string_view token)
{
    path += '/';
    if (std::none_of(token.begin(), token.end(), [](char c) { return c == '~' || c == '/'; })) {
        path += token;
        return;
    }
    for (char c : token) {
        if (c == '~') {
            path += "~0";
        } else if (c == '/') {
            path += "~1";
        } else {
            path += c;
        }
    }
}

// Key tables: the index of a key is its bit in the "seen" mask.
constexpr std::array<std::string_view, 9> top_keys{
    "$schema", "version", "internal_domains", "hmac_key", "defaults", "servers", "mailboxes", "tenants", "probes"};
enum top_key { t_schema, t_version, t_internal_domains, t_hmac_key, t_defaults, t_servers, t_mailboxes, t_tenants, t_probes };

constexpr std::array<std::string_view, 11> defaults_keys{"connect_timeout", "command_timeout", "interval", "deadline",
    "poll", "junk_verdict", "warn_latency", "warn_cert_days", "require_auth_results", "limits", "dns_ttl"};
enum defaults_key { d_connect_timeout, d_command_timeout, d_interval, d_deadline, d_poll, d_junk_verdict,
    d_warn_latency, d_warn_cert_days, d_require_auth_results, d_limits, d_dns_ttl };

constexpr std::array<std::string_view, 5> limits_keys{"concurrent", "per_server", "per_tenant", "backoff_initial",
    "backoff_max"};
enum limits_key { l_concurrent, l_per_server, l_per_tenant, l_backoff_initial, l_backoff_max };
// Far above what one loop can run (docs/SCALING.md); a larger number is a typo.
constexpr std::int64_t max_run_limit = 1'000'000;

constexpr std::array<std::string_view, 12> server_keys{"name", "protocol", "host", "port", "tls", "ca_file",
    "verify_name", "insecure", "zone", "connect_timeout", "command_timeout", "auth"};
enum server_key { s_name, s_protocol, s_host, s_port, s_tls, s_ca_file, s_verify_name, s_insecure, s_zone,
    s_connect_timeout, s_command_timeout, s_auth };

constexpr std::array<std::string_view, 5> auth_keys{"user", "password", "oauth2_token", "oauth2_token_command",
    "oauth2"};
enum auth_key { a_user, a_password, a_oauth2_token, a_oauth2_token_command, a_oauth2 };

constexpr std::array<std::string_view, 11> mailbox_keys{"name", "address", "server", "user", "password",
    "oauth2_token", "extra_folders", "junk_folders", "oauth2_token_command", "oauth2", "keep_session"};
enum mailbox_key { m_name_key, m_address, m_server, m_user, m_password, m_oauth2_token, m_extra_folders, m_junk_folders,
    m_oauth2_token_command, m_oauth2, m_keep_session };

constexpr std::array<std::string_view, 10> oauth2_keys{"flow", "tenant", "client_id", "client_secret", "scope",
    "token_url", "refresh_token_file", "ca_file", "certificate_file", "private_key_file"};
enum oauth2_key { o_flow, o_tenant, o_client_id, o_client_secret, o_scope, o_token_url, o_refresh_token_file,
    o_ca_file, o_certificate_file, o_private_key_file };
constexpr std::array<std::string_view, 2> flow_names{"client_credentials", "refresh_token"};
// Exchange Online's resource: the token is good for IMAP, POP and SMTP AUTH alike.
constexpr std::string_view default_m365_scope = "https://outlook.office365.com/.default";
// A token command's argv: enough for any wrapper, small enough to print in a message.
constexpr std::size_t max_command_args = 64;

constexpr std::array<std::string_view, 2> tenant_keys{"name", "description"};

constexpr std::array<std::string_view, 16> probe_keys{"name", "tenant", "topology", "send_via", "from", "to",
    "fetch", "interval", "deadline", "poll", "junk_verdict", "warn_latency", "warn_cert_days",
    "require_auth_results", "bounce_mailbox", "enabled"};
enum probe_key { p_name, p_tenant, p_topology, p_send_via, p_from, p_to, p_fetch, p_interval, p_deadline, p_poll,
    p_junk_verdict, p_warn_latency, p_warn_cert_days, p_require_auth_results, p_bounce_mailbox, p_enabled };

constexpr std::array<std::string_view, 3> secret_keys{"env", "file", "inline"};
constexpr std::array<std::string_view, 4> auth_results_keys{"spf", "dkim", "dmarc", "verdict"};

// RFC 8601 section 2.7: the result values each method can report.
constexpr std::array<std::string_view, 7> spf_results{"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"};
constexpr std::array<std::string_view, 7> dkim_results{"none", "pass", "fail", "policy", "neutral", "temperror", "permerror"};
constexpr std::array<std::string_view, 5> dmarc_results{"none", "pass", "fail", "temperror", "permerror"};

constexpr std::array<std::string_view, 3> protocol_names{"smtp", "imap", "pop3"};
constexpr std::array<std::string_view, 3> tls_names{"none", "starttls", "implicit"};
constexpr std::array<std::string_view, 2> zone_names{"internal", "external"};
constexpr std::array<std::string_view, 2> junk_names{"down", "warning"};

constexpr std::uint64_t bit(int key) { return std::uint64_t{1} << key; }

class reader {
public:
    reader(std::string file, load_options& options) : m_file(std::move(file)), m_options(options) {}

    load_result run(simdjson::padded_string_view text);

private:
    // The JSON pointer of the value being read; restored on scope exit.
    class path_push {
    public:
        path_push(reader& r, std::string_view token) : m_reader(r), m_size(r.m_path.size())
        {
            append_pointer_token(r.m_path, token);
        }
        path_push(reader& r, std::size_t index) : path_push(r, std::string_view(std::to_string(index))) {}
        path_push(const path_push&) = delete;
        path_push& operator=(const path_push&) = delete;
        ~path_push() { m_reader.m_path.resize(m_size); }

    private:
        reader& m_reader;
        std::size_t m_size;
    };

    void error(const char* at, std::string message);
    void warning(const char* at, std::string message);
    void json_error(simdjson::error_code code, const char* at);
    diagnostic make(const char* at, std::string message);
    void locate(const char* at, diagnostic& d);
    std::string last_key() const;

    static const char* where(od::value& v) { return v.raw_json_token().data(); }
    std::optional<od::json_type> type_of(od::value& v);
    bool expect_type(od::value& v, od::json_type wanted, std::string_view what);

    template <std::size_t N, typename F>
    std::uint64_t fields(od::value& v, const std::array<std::string_view, N>& known, std::uint64_t required, F&& on_field);
    template <std::size_t N, typename F>
    std::uint64_t fields(od::object& obj, const char* at, const std::array<std::string_view, N>& known,
        std::uint64_t required, F&& on_field);
    template <typename F>
    void elements(od::value& v, F&& on_element);
    template <typename R, typename F>
    void elements(od::value& v, R&& reserve, F&& on_element);

    std::optional<std::string_view> raw_string(od::value& v);
    std::optional<std::string> text(od::value& v);
    std::optional<std::string> name(od::value& v);
    std::optional<std::int64_t> integer(od::value& v, std::int64_t lo, std::int64_t hi);
    std::optional<bool> boolean(od::value& v);
    std::optional<milliseconds> duration(od::value& v);
    template <std::size_t N>
    std::optional<std::size_t> choice(od::value& v, const std::array<std::string_view, N>& names);
    std::optional<secret> secret_ref(od::value& v);
    std::optional<std::vector<std::string>> string_list(od::value& v);
    template <std::size_t N>
    std::vector<std::string> result_list(od::value& v, const std::array<std::string_view, N>& allowed);
    std::optional<std::string> expand(std::string_view in, const char* at);
    std::optional<std::string> env(const std::string& name);
    std::optional<secret> read_secret_file(const std::string& path, const char* at);

    void read_top(od::object& root, const char* at);
    void read_defaults(od::value& v);
    void read_limits(od::value& v);
    void read_server(od::value& v);
    std::optional<credential> read_auth(od::value& v);
    std::optional<oauth2_flow> read_oauth2(od::value& v);
    std::string secret_file(od::value& v, const char* at);
    std::vector<std::string> read_command(od::value& v);
    void check_login_keys(const char* at, bool password, bool token, bool command, bool flow);
    void read_mailbox(od::value& v);
    void read_tenant(od::value& v);
    void read_probe(od::value& v, std::size_t index);
    auth_results_policy read_auth_results(od::value& v);
    void finish(load_result& out);

    std::string m_file;
    load_options& m_options;
    const char* m_base = nullptr;
    od::document* m_doc = nullptr;          // for the location of syntax errors
    std::size_t m_size = 0;
    std::string m_path;
    std::optional<std::size_t> m_probe;     // set while reading /probes/N
    bool m_stop = false;                    // a syntax error, or too many errors without keep_going
    std::size_t m_dropped = 0;              // errors past max_errors, counted only
    // Line counting resumes from the last located offset: diagnostics mostly come in order.
    std::size_t m_line_offset = 0;
    std::size_t m_line = 1;
    std::size_t m_line_start = 0;

    std::vector<diagnostic> m_errors;
    std::vector<diagnostic> m_warnings;
    std::set<std::size_t> m_bad_probes;

    scenario m_scenario;
    std::uint64_t m_defaults_set = 0;
    std::vector<std::uint64_t> m_server_set;    // keys given per server
    std::vector<std::uint64_t> m_probe_set;     // keys given per probe
    std::vector<std::size_t> m_probe_position;  // file index of each parsed probe
};

diagnostic reader::make(const char* at, std::string message)
{
    diagnostic d;
    d.file = m_file;
    d.pointer = m_path;
    d.message = std::move(message);
    d.probe = m_probe;
    locate(at, d);
    return d;
}

void reader::locate(const char* at, diagnostic& d)
{
    if (at == nullptr || m_base == nullptr || at < m_base || at > m_base + m_size) {
        return;
    }
    auto offset = static_cast<std::size_t>(at - m_base);
    if (offset < m_line_offset) {
        m_line_offset = 0;
        m_line = 1;
        m_line_start = 0;
    }
    for (std::size_t i = m_line_offset; i < offset; ++i) {
        if (m_base[i] == '\n') {
            ++m_line;
            m_line_start = i + 1;
        }
    }
    m_line_offset = offset;
    d.line = m_line;
    d.column = offset - m_line_start + 1;
}

void reader::error(const char* at, std::string message)
{
    if (m_probe) {
        m_bad_probes.insert(*m_probe);
    }
    if (m_errors.size() >= m_options.max_errors) {
        ++m_dropped;
        // Without keep_going the load has failed anyway; with it, probes must still be read
        // to know which are good, unless the problem is outside the probes.
        if (!m_options.keep_going || !m_probe) {
            m_stop = true;
        }
        return;
    }
    m_errors.push_back(make(at, std::move(message)));
}

void reader::warning(const char* at, std::string message)
{
    if (m_warnings.size() < m_options.max_errors) {
        m_warnings.push_back(make(at, std::move(message)));
    }
}

void reader::json_error(simdjson::error_code code, const char* at)
{
    // A syntax error is never a probe's own problem: the rest of the file is unreadable.
    m_probe.reset();
    const char* location = nullptr;
    if (at == nullptr && m_doc != nullptr && m_doc->current_location().get(location) == simdjson::SUCCESS) {
        at = location;
    }
    std::string message = "JSON syntax error: ";
    message += simdjson::error_message(code);
    if (m_errors.size() >= m_options.max_errors) {
        m_errors.pop_back();
        ++m_dropped;
    }
    m_errors.push_back(make(at, std::move(message)));
    m_stop = true;
}

std::string reader::last_key() const
{
    auto slash = m_path.rfind('/');
    std::string key = slash == std::string::npos ? m_path : m_path.substr(slash + 1);
    return key.empty() || (key[0] >= '0' && key[0] <= '9') ? "value" : key;
}

std::optional<od::json_type> reader::type_of(od::value& v)
{
    od::json_type t;
    if (auto e = v.type().get(t)) {
        json_error(e, where(v));
        return std::nullopt;
    }
    return t;
}

bool reader::expect_type(od::value& v, od::json_type wanted, std::string_view what)
{
    auto t = type_of(v);
    if (!t) {
        return false;
    }
    if (*t != wanted) {
        error(where(v), last_key() + " must be " + std::string(what));
        return false;
    }
    return true;
}

template <std::size_t N, typename F>
std::uint64_t reader::fields(od::value& v, const std::array<std::string_view, N>& known, std::uint64_t required,
    F&& on_field)
{
    const char* at = where(v);
    if (!expect_type(v, od::json_type::object, "an object")) {
        return 0;
    }
    od::object obj;
    if (auto e = v.get_object().get(obj)) {
        json_error(e, at);
        return 0;
    }
    return fields(obj, at, known, required, std::forward<F>(on_field));
}

template <std::size_t N, typename F>
std::uint64_t reader::fields(od::object& obj, const char* at, const std::array<std::string_view, N>& known,
    std::uint64_t required, F&& on_field)
{
    static_assert(N <= 64);
    std::uint64_t seen = 0;
    for (auto item : obj) {
        od::field field;
        if (auto e = std::move(item).get(field)) {
            json_error(e, nullptr);
            return seen;
        }
        const char* key_at = field.key().raw() - 1;
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) {
            json_error(e, key_at);
            return seen;
        }
        auto found = std::find(known.begin(), known.end(), key);
        path_push p(*this, key);
        if (found == known.end()) {
            error(key_at, "unknown key " + quote_text(key) + did_you_mean(key, known));
        } else {
            auto index = static_cast<int>(found - known.begin());
            if (seen & bit(index)) {
                error(key_at, "duplicate key " + quote_text(key));
            } else {
                seen |= bit(index);
                od::value value = field.value();
                on_field(index, value);
            }
        }
        if (m_stop) {
            return seen;
        }
    }
    for (std::size_t i = 0; i < N; ++i) {
        if ((required & bit(static_cast<int>(i))) && !(seen & bit(static_cast<int>(i)))) {
            error(at, "missing key " + quote_text(known[i]));
        }
    }
    return seen;
}

template <typename F>
void reader::elements(od::value& v, F&& on_element)
{
    elements(v, nullptr, std::forward<F>(on_element));
}

// With a `reserve` callback (not nullptr): counts the elements first (a skim that rewinds),
// so 100,000 mailboxes are built in place instead of moved each time their vector grows.
template <typename R, typename F>
void reader::elements(od::value& v, R&& reserve, F&& on_element)
{
    const char* at = where(v);
    if (!expect_type(v, od::json_type::array, "an array")) {
        return;
    }
    od::array arr;
    if (auto e = v.get_array().get(arr)) {
        json_error(e, at);
        return;
    }
    if constexpr (!std::is_null_pointer_v<std::remove_cvref_t<R>>) {
        std::size_t count = 0;
        if (auto e = arr.count_elements().get(count)) {
            json_error(e, nullptr);
            return;
        }
        reserve(count);
    }
    std::size_t index = 0;
    for (auto item : arr) {
        od::value element;
        if (auto e = std::move(item).get(element)) {
            json_error(e, nullptr);
            return;
        }
        path_push p(*this, index);
        on_element(index, element);
        if (m_stop) {
            return;
        }
        ++index;
    }
}

// The view points into the parser's string buffer, which lives as long as the document.
std::optional<std::string_view> reader::raw_string(od::value& v)
{
    const char* at = where(v);
    if (!expect_type(v, od::json_type::string, "a string")) {
        return std::nullopt;
    }
    std::string_view s;
    if (auto e = v.get_string().get(s)) {
        json_error(e, at);
        return std::nullopt;
    }
    if (s.size() > max_string_bytes) {
        error(at, last_key() + " is longer than " + std::to_string(max_string_bytes) + " bytes");
        return std::nullopt;
    }
    // Values end up in protocol commands; a CR or LF there would be command injection.
    if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
        error(at, last_key() + " must not contain control characters");
        return std::nullopt;
    }
    return s;
}

std::optional<std::string> reader::text(od::value& v)
{
    const char* at = where(v);
    auto s = raw_string(v);
    if (!s) {
        return std::nullopt;
    }
    return expand(*s, at);
}

std::optional<std::string> reader::name(od::value& v)
{
    const char* at = where(v);
    auto s = raw_string(v);
    if (!s) {
        return std::nullopt;
    }
    bool ok = !s->empty() && s->size() <= max_name_bytes && std::all_of(s->begin(), s->end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-' || c == '@';
    });
    if (!ok) {
        error(at, last_key() + " " + quote_text(*s) + " must be 1-128 letters, digits, '.', '_', '-' or '@'");
        return std::nullopt;
    }
    return std::string(*s);
}

std::optional<std::string> reader::env(const std::string& var)
{
    if (m_options.getenv) {
        return m_options.getenv(var);
    }
    const char* value = std::getenv(var.c_str());
    return value == nullptr ? std::nullopt : std::optional<std::string>(value);
}

std::optional<std::string> reader::expand(std::string_view in, const char* at)
{
    if (in.find('$') == std::string_view::npos) {   // most values: nothing to expand
        return std::string(in);
    }
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '$' || i + 1 == in.size() || (in[i + 1] != '$' && in[i + 1] != '{')) {
            out += in[i];
            continue;
        }
        if (in[i + 1] == '$') {
            out += '$';
            ++i;
            continue;
        }
        auto close = in.find('}', i + 2);
        if (close == std::string_view::npos) {
            error(at, "unterminated ${ in " + last_key() + " (write $$ for a literal '$')");
            return std::nullopt;
        }
        std::string_view body = in.substr(i + 2, close - i - 2);
        std::optional<std::string_view> fallback;
        if (auto sep = body.find(":-"); sep != std::string_view::npos) {
            fallback = body.substr(sep + 2);
            body = body.substr(0, sep);
        }
        bool valid = !body.empty() && !(body[0] >= '0' && body[0] <= '9') &&
                     std::all_of(body.begin(), body.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
                     });
        if (!valid) {
            error(at, "invalid variable name " + quote_text(body) + " in ${...} in " + last_key());
            return std::nullopt;
        }
        std::string var(body);
        auto value = env(var);
        if (value) {
            out += *value;
        } else if (fallback) {
            out += *fallback;
        } else {
            error(at, "environment variable " + quote_text(var) + " is not set (used as ${" + var + "} in " + last_key() + ")");
            return std::nullopt;
        }
        i = close;
    }
    return out;
}

std::optional<std::int64_t> reader::integer(od::value& v, std::int64_t lo, std::int64_t hi)
{
    const char* at = where(v);
    auto range = [&] { return last_key() + " must be " + std::to_string(lo) + "-" + std::to_string(hi); };
    if (!expect_type(v, od::json_type::number, "a number")) {
        return std::nullopt;
    }
    std::int64_t n = 0;
    if (auto e = v.get_int64().get(n)) {
        if (e == simdjson::INCORRECT_TYPE || e == simdjson::NUMBER_OUT_OF_RANGE || e == simdjson::NUMBER_ERROR) {
            error(at, range() + " (a whole number)");
        } else {
            json_error(e, at);
        }
        return std::nullopt;
    }
    if (n < lo || n > hi) {
        error(at, range());
        return std::nullopt;
    }
    return n;
}

std::optional<bool> reader::boolean(od::value& v)
{
    const char* at = where(v);
    if (!expect_type(v, od::json_type::boolean, "true or false")) {
        return std::nullopt;
    }
    bool b = false;
    if (auto e = v.get_bool().get(b)) {
        json_error(e, at);
        return std::nullopt;
    }
    return b;
}

// duration = 1*( 1*DIGIT ( "ms" / "s" / "m" / "h" ) ), e.g. "250ms", "30s", "1h30m".
std::optional<milliseconds> reader::duration(od::value& v)
{
    const char* at = where(v);
    auto s = text(v);
    if (!s) {
        return std::nullopt;
    }
    auto bad = [&] {
        return last_key() + " " + quote_text(*s) + " is not a duration; write e.g. \"250ms\", \"30s\", \"5m\" or \"1h30m\"";
    };
    if (s->empty()) {
        error(at, bad());
        return std::nullopt;
    }
    std::int64_t total = 0;
    std::size_t i = 0;
    while (i < s->size()) {
        std::int64_t n = 0;
        std::size_t digits = 0;
        while (i < s->size() && (*s)[i] >= '0' && (*s)[i] <= '9') {
            // Saturate: the range check below reports it, the digits stay consumed.
            n = std::min<std::int64_t>(n * 10 + ((*s)[i] - '0'), max_duration.count() + 1);
            ++i;
            ++digits;
        }
        std::int64_t unit = 0;
        if (s->compare(i, 2, "ms") == 0) {
            unit = 1;
            i += 2;
        } else if (i < s->size() && (*s)[i] == 's') {
            unit = 1000;
            ++i;
        } else if (i < s->size() && (*s)[i] == 'm') {
            unit = 60'000;
            ++i;
        } else if (i < s->size() && (*s)[i] == 'h') {
            unit = 3'600'000;
            ++i;
        }
        if (digits == 0 || unit == 0) {
            error(at, bad());
            return std::nullopt;
        }
        if (n > max_duration.count() || (total += n * unit) > max_duration.count()) {
            error(at, last_key() + " must be at most 24h");
            return std::nullopt;
        }
    }
    return milliseconds(total);
}

template <std::size_t N>
std::optional<std::size_t> reader::choice(od::value& v, const std::array<std::string_view, N>& names)
{
    const char* at = where(v);
    auto s = raw_string(v);
    if (!s) {
        return std::nullopt;
    }
    auto found = std::find(names.begin(), names.end(), *s);
    if (found == names.end()) {
        error(at, "unknown " + last_key() + " " + quote_text(*s) + did_you_mean(*s, names) + "; use " + one_of(names));
        return std::nullopt;
    }
    return static_cast<std::size_t>(found - names.begin());
}

std::optional<secret> reader::read_secret_file(const std::string& path_text, const char* at)
{
    std::string path = path_text;
    if (!path.empty() && path[0] != '/' && !m_options.base_dir.empty()) {
        path = m_options.base_dir + "/" + path;
    }
    std::string origin = "file " + path;
    // stat first: reading a device or a FIFO could block or never end.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        error(at, "cannot read secret file " + quote_text(path) + ": " + std::strerror(errno));
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
        error(at, "secret file " + quote_text(path) + " is not a regular file");
        return std::nullopt;
    }
    if (static_cast<std::uint64_t>(st.st_size) > max_secret_file_bytes) {
        error(at, "secret file " + quote_text(path) + " is larger than 64 KiB");
        return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error(at, "cannot read secret file " + quote_text(path) + ": " + std::strerror(errno));
        return std::nullopt;
    }
    std::string value;
    value.resize(max_secret_file_bytes + 1);
    in.read(value.data(), static_cast<std::streamsize>(value.size()));
    value.resize(static_cast<std::size_t>(in.gcount()));
    // Editors and `echo` end files with a newline that is not part of the secret.
    if (!value.empty() && value.back() == '\n') {
        value.pop_back();
        if (!value.empty() && value.back() == '\r') {
            value.pop_back();
        }
    }
    if (value.empty()) {
        error(at, "secret file " + quote_text(path) + " is empty");
        return std::nullopt;
    }
    return secret(std::move(value), secret::source::file, std::move(origin));
}

// secret-ref = {"env": NAME} / {"file": PATH} / {"inline": VALUE}
std::optional<secret> reader::secret_ref(od::value& v)
{
    const char* at = where(v);
    std::string label = last_key();
    auto t = type_of(v);
    if (!t) {
        return std::nullopt;
    }
    if (*t != od::json_type::object) {
        // Never echo the value: a plain string here is most likely the secret itself.
        error(at, label + " must be a secret reference: {\"env\": \"NAME\"}, {\"file\": \"PATH\"} or {\"inline\": \"...\"}");
        return std::nullopt;
    }
    std::optional<secret> result;
    std::uint64_t seen = fields(v, secret_keys, 0, [&](int key, od::value& value) {
        const char* value_at = where(value);
        if (key == 0) {
            auto var = name(value);
            if (!var) {
                return;
            }
            auto got = env(*var);
            if (!got) {
                error(value_at, "environment variable " + quote_text(*var) + " is not set (" + label + " from env)");
            } else if (got->empty()) {
                error(value_at, "environment variable " + quote_text(*var) + " is empty (" + label + " from env)");
            } else {
                result.emplace(std::move(*got), secret::source::env, "env " + *var);
            }
        } else if (key == 1) {
            auto path = text(value);
            if (path) {
                result = read_secret_file(*path, value_at);
            }
        } else {
            if (!expect_type(value, od::json_type::string, "a string")) {
                return;
            }
            std::string_view s;
            if (auto e = value.get_string().get(s)) {
                json_error(e, value_at);
                return;
            }
            if (s.empty()) {
                error(value_at, label + " is empty");
                return;
            }
            warning(value_at, label + " is written inline in the scenario file; prefer {\"env\": ...} or {\"file\": ...}");
            result.emplace(std::string(s), secret::source::inline_value, "inline");
        }
    });
    if (std::popcount(seen) != 1 && !m_stop) {
        error(at, label + " needs exactly one of \"env\", \"file\" or \"inline\"");
        return std::nullopt;
    }
    return result;
}

std::optional<std::vector<std::string>> reader::string_list(od::value& v)
{
    std::vector<std::string> out;
    bool ok = true;
    elements(v, [&](std::size_t, od::value& element) {
        auto s = text(element);
        if (s && !s->empty()) {
            out.push_back(std::move(*s));
        } else {
            if (s) {
                error(where(element), "empty string");
            }
            ok = false;
        }
    });
    if (!ok) {
        return std::nullopt;
    }
    return out;
}

template <std::size_t N>
std::vector<std::string> reader::result_list(od::value& v, const std::array<std::string_view, N>& allowed)
{
    std::vector<std::string> out;
    auto t = type_of(v);
    if (!t) {
        return out;
    }
    if (*t == od::json_type::string) {
        if (auto i = choice(v, allowed)) {
            out.emplace_back(allowed[*i]);
        }
        return out;
    }
    if (*t != od::json_type::array) {
        error(where(v), last_key() + " must be a result such as \"pass\" or a list of results");
        return out;
    }
    elements(v, [&](std::size_t, od::value& element) {
        if (auto i = choice(element, allowed)) {
            out.emplace_back(allowed[*i]);
        }
    });
    return out;
}

auth_results_policy reader::read_auth_results(od::value& v)
{
    auth_results_policy policy;
    const char* at = where(v);
    auto seen = fields(v, auth_results_keys, 0, [&](int key, od::value& value) {
        if (key == 0) {
            policy.spf = result_list(value, spf_results);
        } else if (key == 1) {
            policy.dkim = result_list(value, dkim_results);
        } else if (key == 2) {
            policy.dmarc = result_list(value, dmarc_results);
        } else if (auto x = choice(value, junk_names)) {
            policy.verdict = static_cast<junk_policy>(*x);
        }
    });
    // A verdict with nothing to judge is a typo or a forgotten method, not a policy.
    if ((seen & bit(3)) && !(seen & (bit(0) | bit(1) | bit(2)))) {
        error(at, last_key() + " sets a verdict but demands none of spf, dkim, dmarc");
    }
    return policy;
}

void reader::read_defaults(od::value& v)
{
    defaults& d = m_scenario.defaults_block;
    m_defaults_set = fields(v, defaults_keys, 0, [&](int key, od::value& value) {
        switch (key) {
        case d_connect_timeout: if (auto x = duration(value)) d.connect_timeout = *x; break;
        case d_command_timeout: if (auto x = duration(value)) d.command_timeout = *x; break;
        case d_interval: if (auto x = duration(value)) d.interval = *x; break;
        case d_deadline: if (auto x = duration(value)) d.deadline = *x; break;
        case d_poll: if (auto x = duration(value)) d.poll = *x; break;
        case d_junk_verdict: if (auto x = choice(value, junk_names)) d.junk = static_cast<junk_policy>(*x); break;
        case d_warn_latency: if (auto x = duration(value)) d.warn_latency = *x; break;
        case d_warn_cert_days: if (auto x = integer(value, 0, 3650)) d.warn_cert_days = static_cast<int>(*x); break;
        case d_require_auth_results: d.require_auth_results = read_auth_results(value); break;
        case d_limits: read_limits(value); break;
        case d_dns_ttl: if (auto x = duration(value)) d.dns_ttl = *x; break;
        default: break;
        }
    });
}

void reader::read_limits(od::value& v)
{
    const char* at = where(v);
    run_limits& l = m_scenario.defaults_block.limits;
    auto count = [&](od::value& value, std::uint32_t& into) {
        if (auto x = integer(value, 1, max_run_limit)) {
            into = static_cast<std::uint32_t>(*x);
        }
    };
    // A zero back-off would retry a refusing server at every run: the hammering it prevents.
    auto backoff = [&](od::value& value, milliseconds& into) {
        const char* value_at = where(value);
        if (auto x = duration(value)) {
            if (x->count() == 0) {
                error(value_at, last_key() + " must be longer than 0");
            } else {
                into = *x;
            }
        }
    };
    std::uint64_t set = fields(v, limits_keys, 0, [&](int key, od::value& value) {
        switch (key) {
        case l_concurrent: count(value, l.concurrent); break;
        case l_per_server: count(value, l.per_server); break;
        case l_per_tenant: count(value, l.per_tenant); break;
        case l_backoff_initial: backoff(value, l.backoff_initial); break;
        case l_backoff_max: backoff(value, l.backoff_max); break;
        default: break;
        }
    });
    if ((set & (bit(l_backoff_initial) | bit(l_backoff_max))) && l.backoff_max < l.backoff_initial) {
        path_push p(*this, "backoff_max");
        error(at, "backoff_max must not be shorter than backoff_initial");
    }
}

// Exactly one way to log in (checked once the object had any key at all).
void reader::check_login_keys(const char* at, bool password, bool token, bool command, bool flow)
{
    int given = int(password) + int(token) + int(command) + int(flow);
    if (given > 1) {
        error(at, "give only one of password, oauth2_token, oauth2_token_command and oauth2");
    } else if (given == 0) {
        error(at, "missing key 'password' (or 'oauth2_token', 'oauth2_token_command', 'oauth2')");
    }
}

// A token command: ["/usr/local/bin/get-token", "arg", ...], run without a shell.
std::vector<std::string> reader::read_command(od::value& v)
{
    const char* at = where(v);
    auto argv = string_list(v);
    if (!argv) {
        return {};
    }
    if (argv->empty()) {
        error(at, last_key() + " must name a program: [\"/path/to/program\", \"arg\", ...]");
        return {};
    }
    if (argv->size() > max_command_args) {
        error(at, last_key() + " has more than " + std::to_string(max_command_args) + " arguments");
        return {};
    }
    return std::move(*argv);
}

// A file an OAuth2 flow reads at each token request (a refresh token rotates, a certificate is
// renewed), relative to the scenario file; a missing one is a typo to report now.
std::string reader::secret_file(od::value& v, const char* at)
{
    auto x = text(v);
    if (!x) {
        return {};
    }
    std::string path = std::move(*x);
    if (!path.empty() && path[0] != '/' && !m_options.base_dir.empty()) {
        path = m_options.base_dir + "/" + path;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        error(at, last_key() + " " + quote_text(path) + " is not a readable regular file");
    }
    return path;
}

// oauth2 = {"flow": "client_credentials" / "refresh_token", "client_id": ..., ...}
std::optional<oauth2_flow> reader::read_oauth2(od::value& v)
{
    oauth2_flow f;
    const char* at = where(v);
    std::optional<std::size_t> flow;
    std::uint64_t seen = fields(v, oauth2_keys, bit(o_flow) | bit(o_client_id), [&](int key, od::value& value) {
        const char* value_at = where(value);
        switch (key) {
        case o_flow: flow = choice(value, flow_names); break;
        case o_tenant: if (auto x = name(value)) f.tenant = std::move(*x); break;
        case o_client_id: if (auto x = text(value)) f.client_id = std::move(*x); break;
        case o_client_secret: f.client_secret = secret_ref(value); break;
        case o_scope: if (auto x = text(value)) f.scope = std::move(*x); break;
        case o_token_url:
            if (auto x = text(value)) {
                // The request body carries secrets: never over plain http.
                if (!x->starts_with("https://") || x->size() <= 8) {
                    error(value_at, "token_url must be an https:// URL");
                } else {
                    f.token_url = std::move(*x);
                }
            }
            break;
        case o_refresh_token_file: f.refresh_token_file = secret_file(value, value_at); break;
        case o_certificate_file: f.certificate_file = secret_file(value, value_at); break;
        case o_private_key_file: f.private_key_file = secret_file(value, value_at); break;
        case o_ca_file: if (auto x = text(value)) f.ca_file = std::move(*x); break;
        default: break;
        }
    });
    if (!flow) {
        return std::nullopt;
    }
    f.type = static_cast<oauth2_flow::grant>(*flow);
    if (f.token_url.empty() && !(seen & bit(o_token_url))) {
        if (f.tenant.empty()) {
            error(at, "give token_url, or tenant for the Microsoft identity platform");
        } else {
            f.token_url = "https://login.microsoftonline.com/" + f.tenant + "/oauth2/v2.0/token";
        }
    }
    if ((seen & bit(o_client_secret)) && (seen & bit(o_certificate_file))) {
        error(at, "give only one of client_secret and certificate_file");
    }
    if ((seen & bit(o_private_key_file)) && !(seen & bit(o_certificate_file))) {
        error(at, "private_key_file needs certificate_file");
    }
    if (f.type == oauth2_flow::grant::client_credentials) {
        if (!(seen & (bit(o_client_secret) | bit(o_certificate_file)))) {
            error(at, "missing key 'client_secret' or 'certificate_file' (the client-credentials flow needs one)");
        }
        if (seen & bit(o_refresh_token_file)) {
            error(at, "refresh_token_file belongs to the refresh_token flow");
        }
        if (!(seen & bit(o_scope))) {
            f.scope = default_m365_scope;
        }
    } else if (!(seen & bit(o_refresh_token_file))) {
        error(at, "missing key 'refresh_token_file' (the refresh_token flow needs it)");
    }
    return f;
}

std::optional<credential> reader::read_auth(od::value& v)
{
    credential c;
    const char* at = where(v);
    std::uint64_t seen = fields(v, auth_keys, bit(a_user), [&](int key, od::value& value) {
        switch (key) {
        case a_user: if (auto x = text(value)) c.user = std::move(*x); break;
        case a_password: c.password = secret_ref(value); break;
        case a_oauth2_token: c.oauth2_token = secret_ref(value); break;
        case a_oauth2_token_command: c.oauth2_token_command = read_command(value); break;
        case a_oauth2: c.oauth2 = read_oauth2(value); break;
        default: break;
        }
    });
    if (seen != 0) {
        check_login_keys(at, seen & bit(a_password), seen & bit(a_oauth2_token), seen & bit(a_oauth2_token_command),
            seen & bit(a_oauth2));
    }
    return c;
}

void reader::read_server(od::value& v)
{
    server s;
    std::optional<std::int64_t> port;
    std::uint64_t seen = fields(v, server_keys, bit(s_name) | bit(s_protocol) | bit(s_host) | bit(s_tls) | bit(s_zone),
        [&](int key, od::value& value) {
            switch (key) {
            case s_name: if (auto x = name(value)) s.name = std::move(*x); break;
            case s_protocol: if (auto x = choice(value, protocol_names)) s.protocol = static_cast<protocol_kind>(*x); break;
            case s_host: if (auto x = text(value)) s.host = std::move(*x); break;
            case s_port: port = integer(value, 1, 65535); break;
            case s_tls: if (auto x = choice(value, tls_names)) s.tls = static_cast<tls_mode>(*x); break;
            case s_ca_file: if (auto x = text(value)) s.ca_file = std::move(*x); break;
            case s_verify_name: if (auto x = text(value)) s.verify_name = std::move(*x); break;
            case s_insecure: if (auto x = boolean(value)) s.insecure = *x; break;
            case s_zone: if (auto x = choice(value, zone_names)) s.zone = static_cast<network_zone>(*x); break;
            case s_connect_timeout: if (auto x = duration(value)) s.connect_timeout = *x; break;
            case s_command_timeout: if (auto x = duration(value)) s.command_timeout = *x; break;
            case s_auth: s.auth = read_auth(value); break;
            default: break;
            }
        });
    s.port = port ? static_cast<std::uint16_t>(*port) : default_port(s.protocol, s.tls);
    m_scenario.servers.push_back(std::move(s));
    m_server_set.push_back(seen);
}

void reader::read_mailbox(od::value& v)
{
    mailbox& m = m_scenario.mailboxes.emplace_back();
    const char* at = where(v);
    std::uint64_t seen = fields(v, mailbox_keys, bit(m_name_key) | bit(m_address) | bit(m_server),
        [&](int key, od::value& value) {
            switch (key) {
            case m_name_key: if (auto x = name(value)) m.name = std::move(*x); break;
            case m_address: if (auto x = text(value)) m.address = std::move(*x); break;
            case m_server: if (auto x = name(value)) m.server = std::move(*x); break;
            case m_user: if (auto x = text(value)) m.login.user = std::move(*x); break;
            case m_password: m.login.password = secret_ref(value); break;
            case m_oauth2_token: m.login.oauth2_token = secret_ref(value); break;
            case m_oauth2_token_command: m.login.oauth2_token_command = read_command(value); break;
            case m_oauth2: m.login.oauth2 = read_oauth2(value); break;
            case m_extra_folders: if (auto x = string_list(value)) m.extra_folders = std::move(*x); break;
            case m_junk_folders: if (auto x = string_list(value)) m.junk_folders = std::move(*x); break;
            case m_keep_session: if (auto x = duration(value)) m.keep_session = *x; break;
            default: break;
            }
        });
    if (seen != 0) {
        check_login_keys(at, seen & bit(m_password), seen & bit(m_oauth2_token), seen & bit(m_oauth2_token_command),
            seen & bit(m_oauth2));
    }
    // Most servers (and the test servers) log in with the full address.
    if (!(seen & bit(m_user))) {
        m.login.user = m.address;
    }
}

void reader::read_tenant(od::value& v)
{
    tenant t;
    fields(v, tenant_keys, bit(0), [&](int key, od::value& value) {
        if (key == 0) {
            if (auto x = name(value)) t.name = std::move(*x);
        } else if (auto x = text(value)) {
            t.description = std::move(*x);
        }
    });
    m_scenario.tenants.push_back(std::move(t));
}

void reader::read_probe(od::value& v, std::size_t index)
{
    // Built in place and dropped again if it turns out bad: most probes are good.
    probe& p = m_scenario.probes.emplace_back();
    m_probe = index;
    std::uint64_t seen = fields(v, probe_keys,
        bit(p_name) | bit(p_tenant) | bit(p_topology) | bit(p_send_via) | bit(p_from) | bit(p_to) | bit(p_fetch),
        [&](int key, od::value& value) {
            switch (key) {
            case p_name: if (auto x = name(value)) p.name = std::move(*x); break;
            case p_tenant: if (auto x = name(value)) p.tenant = std::move(*x); break;
            case p_topology: if (auto x = integer(value, 1, 6)) p.topology = static_cast<int>(*x); break;
            case p_send_via: if (auto x = name(value)) p.send_via = std::move(*x); break;
            case p_from: if (auto x = text(value)) p.from = std::move(*x); break;
            case p_to: if (auto x = text(value)) p.to = std::move(*x); break;
            case p_fetch: if (auto x = name(value)) p.fetch = std::move(*x); break;
            case p_interval: if (auto x = duration(value)) p.interval = *x; break;
            case p_deadline: if (auto x = duration(value)) p.deadline = *x; break;
            case p_poll: if (auto x = duration(value)) p.poll = *x; break;
            case p_junk_verdict: if (auto x = choice(value, junk_names)) p.junk = static_cast<junk_policy>(*x); break;
            case p_warn_latency: if (auto x = duration(value)) p.warn_latency = *x; break;
            case p_warn_cert_days: if (auto x = integer(value, 0, 3650)) p.warn_cert_days = static_cast<int>(*x); break;
            case p_require_auth_results: p.require_auth_results = read_auth_results(value); break;
            case p_bounce_mailbox: if (auto x = name(value)) p.bounce_mailbox = std::move(*x); break;
            case p_enabled: if (auto x = boolean(value)) p.enabled = *x; break;
            default: break;
            }
        });
    m_probe.reset();
    if (m_bad_probes.contains(index)) {
        m_scenario.probes.pop_back();
    } else {
        m_probe_set.push_back(seen);
        m_probe_position.push_back(index);
    }
}

void reader::read_top(od::object& root, const char* at)
{
    fields(root, at, top_keys, bit(t_hmac_key) | bit(t_probes), [&](int key, od::value& value) {
        switch (key) {
        case t_schema: text(value); break;
        case t_version:
            if (auto x = integer(value, 0, 1'000'000); x && *x != 1) {
                error(where(value), "version must be 1 (the only scenario format so far)");
            }
            break;
        case t_internal_domains:
            if (auto x = string_list(value)) {
                for (auto& d : *x) {
                    std::transform(d.begin(), d.end(), d.begin(),
                        [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
                }
                m_scenario.internal_domains = std::move(*x);
            }
            break;
        case t_hmac_key:
            if (auto x = secret_ref(value)) {
                if (x->size() < 16 || x->size() > 64) {
                    error(where(value), "hmac_key must be 16 to 64 bytes long");
                } else {
                    m_scenario.hmac_key = std::move(*x);
                }
            }
            break;
        case t_defaults: read_defaults(value); break;
        case t_servers:
            elements(value, [&](std::size_t n) { m_scenario.servers.reserve(n); m_server_set.reserve(n); },
                [&](std::size_t, od::value& e) { read_server(e); });
            break;
        case t_mailboxes:
            elements(value, [&](std::size_t n) { m_scenario.mailboxes.reserve(n); },
                [&](std::size_t, od::value& e) { read_mailbox(e); });
            break;
        case t_tenants:
            elements(value, [&](std::size_t n) { m_scenario.tenants.reserve(n); },
                [&](std::size_t, od::value& e) { read_tenant(e); });
            break;
        case t_probes:
            elements(value,
                [&](std::size_t n) {
                    m_scenario.probes.reserve(n);
                    m_probe_set.reserve(n);
                    m_probe_position.reserve(n);
                },
                [&](std::size_t i, od::value& e) { read_probe(e, i); });
            break;
        default: break;
        }
    });
}

load_result reader::run(simdjson::padded_string_view padded)
{
    m_scenario.source_name = m_file;
    m_base = padded.data();
    m_size = padded.size();
    od::parser parser;
    od::document doc;
    load_result out;
    if (auto e = parser.iterate(padded).get(doc)) {
        json_error(e, nullptr);
        finish(out);
        return out;
    }
    m_doc = &doc;
    od::json_type root_type;
    if (auto e = doc.type().get(root_type)) {
        json_error(e, m_base);
    } else if (root_type != od::json_type::object) {
        error(m_base, "a scenario must be a JSON object");
    } else {
        od::object root;
        if (auto object_error = doc.get_object().get(root)) {
            json_error(object_error, m_base);
        } else {
            read_top(root, m_base);
        }
        const char* rest = nullptr;
        if (!m_stop && doc.current_location().get(rest) == simdjson::SUCCESS) {
            error(rest, "unexpected text after the scenario object");
        }
    }
    finish(out);
    return out;
}

void reader::finish(load_result& out)
{
    // The padded copy and the document are gone; later diagnostics have no location.
    m_base = nullptr;
    m_doc = nullptr;
    bool failed = m_stop;
    if (!failed) {
        // Fill in what the defaults block supplies, now that it has been read.
        const defaults& d = m_scenario.defaults_block;
        for (std::size_t i = 0; i < m_scenario.servers.size(); ++i) {
            server& s = m_scenario.servers[i];
            if (!(m_server_set[i] & bit(s_connect_timeout))) s.connect_timeout = d.connect_timeout;
            if (!(m_server_set[i] & bit(s_command_timeout))) s.command_timeout = d.command_timeout;
        }
        for (std::size_t i = 0; i < m_scenario.probes.size(); ++i) {
            probe& p = m_scenario.probes[i];
            std::uint64_t set = m_probe_set[i];
            if (!(set & bit(p_interval))) p.interval = d.interval;
            if (!(set & bit(p_deadline))) p.deadline = d.deadline;
            if (!(set & bit(p_poll))) p.poll = d.poll;
            if (!(set & bit(p_junk_verdict))) p.junk = d.junk;
            if (!(set & bit(p_warn_latency))) p.warn_latency = d.warn_latency;
            if (!(set & bit(p_warn_cert_days))) p.warn_cert_days = d.warn_cert_days;
            if (!(set & bit(p_require_auth_results))) p.require_auth_results = d.require_auth_results;
        }
        bool top_level_errors = std::any_of(m_errors.begin(), m_errors.end(), [](const diagnostic& x) { return !x.probe; });
        if (!top_level_errors) {
            validation_report report = validate(m_scenario, m_probe_position);
            for (auto& w : report.warnings) {
                m_warnings.push_back(std::move(w));
            }
            for (auto& e : report.errors) {
                if (e.probe) {
                    m_bad_probes.insert(*e.probe);
                }
                if (m_errors.size() < m_options.max_errors) {
                    m_errors.push_back(std::move(e));
                } else {
                    ++m_dropped;
                }
            }
        }
        bool any_top_level = std::any_of(m_errors.begin(), m_errors.end(), [](const diagnostic& x) { return !x.probe; });
        failed = any_top_level || (!m_options.keep_going && (!m_errors.empty() || m_dropped > 0));
    }
    if (m_dropped > 0) {
        diagnostic more;
        more.file = m_file;
        more.message = std::to_string(m_dropped) + " more errors not shown";
        m_errors.push_back(std::move(more));
    }
    if (!failed && !m_bad_probes.empty()) {
        std::vector<probe> kept;
        kept.reserve(m_scenario.probes.size());
        for (std::size_t i = 0; i < m_scenario.probes.size(); ++i) {
            if (m_bad_probes.contains(m_probe_position[i])) {
                out.skipped_probes.push_back(m_scenario.probes[i].name);
            } else {
                kept.push_back(std::move(m_scenario.probes[i]));
            }
        }
        // Probes that failed while parsing never reached the list; name them by position.
        std::unordered_set<std::size_t> parsed(m_probe_position.begin(), m_probe_position.end());
        for (std::size_t index : m_bad_probes) {
            if (!parsed.contains(index)) {
                out.skipped_probes.push_back("/probes/" + std::to_string(index));
            }
        }
        m_scenario.probes = std::move(kept);
    }
    if (!failed) {
        out.value = std::move(m_scenario);
    }
    out.errors = std::move(m_errors);
    out.warnings = std::move(m_warnings);
}

} // namespace

std::string diagnostic::to_string() const
{
    std::string out = file;
    if (line != 0) {
        out += ':' + std::to_string(line) + ':' + std::to_string(column);
    }
    out += ": ";
    if (!pointer.empty()) {
        out += pointer + ": ";
    }
    out += message;
    return out;
}

load_result load_string(std::string_view text, const std::string& name, load_options options)
{
    reader r(name, options);
    return r.run(simdjson::padded_string(text));
}

load_result load(const std::string& path, load_options options)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        load_result out;
        diagnostic d;
        d.file = path;
        d.message = std::string("cannot open the scenario file: ") + std::strerror(errno);
        out.errors.push_back(std::move(d));
        return out;
    }
    // Read in blocks into a buffer with simdjson's padding to spare, so the 20 MB of a large
    // scenario are neither read a character at a time nor copied again to be padded.
    std::string text;
    std::error_code size_error;
    auto size = std::filesystem::file_size(path, size_error);
    text.reserve((size_error ? 0 : static_cast<std::size_t>(size)) + simdjson::SIMDJSON_PADDING);
    std::array<char, 64 * 1024> block;
    while (in.read(block.data(), block.size()) || in.gcount() > 0) {
        text.append(block.data(), static_cast<std::size_t>(in.gcount()));
    }
    if (text.capacity() - text.size() < simdjson::SIMDJSON_PADDING) {   // a pipe, or the file grew meanwhile
        text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    }
    if (options.base_dir.empty()) {
        auto slash = path.rfind('/');
        options.base_dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    }
    reader r(path, options);
    return r.run(simdjson::padded_string_view(text.data(), text.size(), text.capacity()));
}

} // namespace scenarios
