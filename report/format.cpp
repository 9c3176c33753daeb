#include "report/format.h"

#include <fmt/format.h>

#include <algorithm>

namespace report {
namespace {

// JSON string escaping (RFC 8259): quotes, backslashes and control characters. The texts
// come from printable() already, so they hold no raw control bytes, but the transcript
// keeps its newlines.
std::string quoted(std::string_view s)
{
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
            } else {
                out += c;
            }
        }
    }
    out += '"';
    return out;
}

} // namespace

std::string json_quote(std::string_view s)
{
    return quoted(s);
}

std::string to_json(const probe::result& r)
{
    std::string out = "{";
    out += fmt::format("\"tenant\":{},\"probe\":{},\"topology\":{},\"status\":{},\"stage\":{},", quoted(r.tenant),
        quoted(r.probe), r.topology, quoted(probe::to_string(r.outcome)),
        r.stage == engine::stage::none ? std::string("null") : quoted(engine::to_string(r.stage)));
    out += fmt::format("\"reason\":{},\"server_reply\":{},\"probe_id\":{},\"mode\":{},\"folder\":{},",
        quoted(r.reason), quoted(r.server_reply), quoted(r.probe_id), r.next_poll ? "\"next-poll\"" : "\"poll\"",
        quoted(r.folder));
    out += fmt::format("\"ms\":{{\"smtp_connect\":{},\"smtp_tls\":{},\"smtp_auth\":{},\"smtp_transaction\":{},"
                       "\"delivery\":{},\"fetch\":{},\"total\":{}}},",
        r.ms.smtp_connect, r.ms.smtp_tls, r.ms.smtp_auth, r.ms.smtp_transaction, r.ms.delivery, r.ms.fetch, r.ms.total);
    out += "\"hops\":[";
    for (std::size_t i = 0; i < r.hops.size(); ++i) {
        const auto& h = r.hops[i];
        out += fmt::format("{}{{\"by\":{},\"delay_ms\":{},\"skewed\":{}}}", i ? "," : "", quoted(h.by),
            h.delay_ms ? std::to_string(*h.delay_ms) : std::string("null"), h.skewed ? "true" : "false");
    }
    out += fmt::format("],\"max_clock_skew_ms\":{},\"tls\":[", r.max_clock_skew_ms);
    for (std::size_t i = 0; i < r.tls.size(); ++i) {
        const auto& t = r.tls[i];
        out += fmt::format("{}{{\"server\":{},\"version\":{},\"cipher\":{},\"cert_not_after\":{},\"verified\":{},"
                           "\"insecure\":{}}}",
            i ? "," : "", quoted(t.server), quoted(t.version), quoted(t.cipher), t.cert_not_after,
            t.verified ? "true" : "false", t.insecure ? "true" : "false");
    }
    out += fmt::format("],\"cert_days_left\":{},\"warnings\":[",
        r.cert_days_left ? std::to_string(*r.cert_days_left) : std::string("null"));
    for (std::size_t i = 0; i < r.warnings.size(); ++i) {
        out += (i ? "," : "") + quoted(r.warnings[i]);
    }
    out += "]";
    if (!r.transcript.empty()) {
        out += ",\"transcript\":" + quoted(r.transcript);
    }
    out += "}";
    return out;
}

std::string to_text_reason(const probe::result& r)
{
    // Session errors already begin with their stage ("auth: auth_failed: ..."); delivery
    // verdicts ("filed as spam in Junk") do not.
    std::string stage(engine::to_string(r.stage));
    if (r.reason.rfind(stage + ":", 0) == 0) {
        return r.reason;
    }
    return stage + ": " + r.reason;
}

std::string to_text(const probe::result& r)
{
    std::string state(probe::to_string(r.outcome));
    std::transform(state.begin(), state.end(), state.begin(), [](char c) { return static_cast<char>(c - 'a' + 'A'); });
    std::string head = fmt::format("{:<7} {}/{} (topology {})", state, r.tenant, r.probe, r.topology);
    if (r.outcome == probe::status::pending) {
        return head + fmt::format(": sent {}; the next run looks for it", r.probe_id);
    }
    if (r.outcome == probe::status::down) {
        head += ": " + to_text_reason(r);
        if (!r.server_reply.empty() && r.reason.find(r.server_reply) == std::string::npos) {
            head += fmt::format(" [server: {}]", r.server_reply);
        }
        return head;
    }
    head += fmt::format(": {} {} ms to {}, {} hop{}, round trip {} ms",
        r.next_poll ? "seen by the next run after" : "delivered in", r.ms.delivery,
        r.folder.empty() ? std::string("?") : r.folder, r.hops.size(), r.hops.size() == 1 ? "" : "s", r.ms.total);
    for (const auto& w : r.warnings) {
        head += "; " + w;
    }
    return head;
}

} // namespace report
