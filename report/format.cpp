#include "report/format.h"

#include <fmt/format.h>

#include <algorithm>

namespace report {

std::string to_json(const probe::result& r)
{
    std::string out = "{";
    out += fmt::format("\"tenant\":{},\"probe\":{},\"topology\":{},\"status\":{},\"stage\":{},", json_quoted(r.tenant),
        json_quoted(r.probe), r.topology, json_quoted(probe::to_string(r.outcome)),
        r.stage == engine::stage::none ? std::string("null") : json_quoted(engine::to_string(r.stage)));
    out += fmt::format("\"reason\":{},\"server_reply\":{},\"probe_id\":{},\"mode\":{},\"folder\":{},\"sent\":{},\"fetch_session_kept\":{},",
        json_quoted(r.reason), json_quoted(r.server_reply), json_quoted(r.probe_id), r.next_poll ? "\"next-poll\"" : "\"poll\"",
        json_quoted(r.folder), r.sent ? "true" : "false", r.fetch_session_kept ? "true" : "false");
    out += fmt::format("\"ms\":{{\"smtp_connect\":{},\"smtp_tls\":{},\"smtp_auth\":{},\"smtp_transaction\":{},"
                       "\"delivery\":{},\"fetch\":{},\"total\":{}}},",
        r.ms.smtp_connect, r.ms.smtp_tls, r.ms.smtp_auth, r.ms.smtp_transaction, r.ms.delivery, r.ms.fetch, r.ms.total);
    out += "\"hops\":[";
    for (std::size_t i = 0; i < r.hops.size(); ++i) {
        const auto& h = r.hops[i];
        out += fmt::format("{}{{\"by\":{},\"delay_ms\":{},\"skewed\":{},\"store\":{}}}", i ? "," : "",
            json_quoted(h.by), h.delay_ms ? std::to_string(*h.delay_ms) : std::string("null"), h.skewed ? "true" : "false",
            h.store ? "true" : "false");
    }
    out += fmt::format("],\"max_clock_skew_ms\":{},\"tls\":[", r.max_clock_skew_ms);
    for (std::size_t i = 0; i < r.tls.size(); ++i) {
        const auto& t = r.tls[i];
        out += fmt::format("{}{{\"server\":{},\"version\":{},\"cipher\":{},\"cert_not_after\":{},\"verified\":{},"
                           "\"insecure\":{}}}",
            i ? "," : "", json_quoted(t.server), json_quoted(t.version), json_quoted(t.cipher), t.cert_not_after,
            t.verified ? "true" : "false", t.insecure ? "true" : "false");
    }
    out += fmt::format("],\"cert_days_left\":{},\"warnings\":[",
        r.cert_days_left ? std::to_string(*r.cert_days_left) : std::string("null"));
    for (std::size_t i = 0; i < r.warnings.size(); ++i) {
        out += (i ? "," : "") + json_quoted(r.warnings[i]);
    }
    out += "]";
    if (!r.transcript.empty()) {
        out += ",\"transcript\":" + json_quoted(r.transcript);
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
    // Relays only: the store hop is not one more server the message passed.
    const auto relays = std::count_if(r.hops.begin(), r.hops.end(), [](const probe::hop& h) { return !h.store; });
    head += fmt::format(": {} {} ms to {}, {} hop{}, round trip {} ms",
        r.next_poll ? "seen by the next run after" : "delivered in", r.ms.delivery,
        r.folder.empty() ? std::string("?") : r.folder, relays, relays == 1 ? "" : "s", r.ms.total);
    for (const auto& w : r.warnings) {
        head += "; " + w;
    }
    return head;
}

} // namespace report
