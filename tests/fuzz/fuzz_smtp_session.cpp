// libFuzzer target for protocols::smtp::send, the whole client session: byte 0 picks the
// request's shape (bit 0: log in; bit 1: with a token instead of a password; bit 2: a second
// recipient; bit 3: require STARTTLS), the rest is everything the server says, played over
// loopback before the server hangs up. Invariants, trapped on violation: the session ends
// (no hang: the deadlines hold), a failure names its stage, a success saw a final reply, and
// the secret reaches neither the transcript nor an error.
#include "tests/fuzz/session_peer.h"

#include "engine/tls.h"
#include "protocols/common/transcript.h"
#include "protocols/smtp/session.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace {

using fuzz_session::check;

engine::task<void> client(std::uint16_t port, std::uint8_t shape)
{
    protocols::smtp::send_request req;
    req.server = fuzz_session::endpoint_on(port);
    if ((shape & 8) != 0) {
        // Never verified: the handshake meets fuzz bytes, not a certificate worth checking.
        static auto tls = engine::tls_context::client(engine::tls_options{"", true});
        check(static_cast<bool>(tls));
        req.server.tls = protocols::tls_mode::starttls;
        req.server.tls_context = *tls;
    }
    if ((shape & 1) != 0) {
        req.auth = fuzz_session::login_with((shape & 2) != 0);
    }
    req.helo_name = "probe.test";
    req.mail_from = "probe@org1.test";
    req.recipients.push_back("alice@org1.test");
    if ((shape & 4) != 0) {
        req.recipients.push_back("bob@org2.test");
    }
    req.message = "From: probe@org1.test\r\nTo: alice@org1.test\r\nSubject: fuzz\r\n\r\n.a dot-stuffed line\r\n";
    protocols::transcript log;
    auto r = co_await protocols::smtp::send(std::move(req), &log);
    if (r) {
        check(!r->final_reply.empty());
    } else {
        fuzz_session::check_error(r.err());
    }
    fuzz_session::check_no_secret(log.text());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    return fuzz_session::run_input(data, size, client);
}
