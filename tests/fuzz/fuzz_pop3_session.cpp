// libFuzzer target for protocols::pop3::session, the other fetch side of a probe: byte 0 picks
// the login (bit 0: a token instead of a password) and the reply limits (bit 1: small ones),
// the rest is everything the server says, played over loopback before the server hangs up.
// The client walks a probe's conversation (connect with CAPA, login, STAT, UIDL, TOP, RETR,
// DELE, QUIT), going on after failures so that every command also meets a broken connection.
// Invariants, trapped on violation: the session ends (the deadlines hold), failures name
// their stage, bodies respect the limits, and the secret reaches neither the transcript nor
// an error.
#include "tests/fuzz/session_peer.h"

#include "protocols/common/transcript.h"
#include "protocols/pop3/session.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace {

using fuzz_session::check;
using fuzz_session::check_outcome;

engine::task<void> client(std::uint16_t port, std::uint8_t shape)
{
    protocols::transcript log;
    const protocols::pop3::reply_limits limits = (shape & 2) != 0 ? protocols::pop3::reply_limits{128, 16, 1024}
                                                                  : protocols::pop3::reply_limits{};
    auto s = co_await protocols::pop3::session::connect(fuzz_session::endpoint_on(port), &log, limits);
    if (!s) {
        fuzz_session::check_error(s.err());
        co_return;
    }
    auto login = co_await s->login(fuzz_session::login_with((shape & 1) != 0));
    check_outcome(login);
    check_outcome(co_await s->stat());
    auto listing = co_await s->uidl();
    check_outcome(listing);
    const std::uint32_t msgno = listing && !listing->empty() ? listing->front().msgno : 1;
    auto header = co_await s->top_headers(msgno);
    check_outcome(header);
    check(!header || header->size() <= limits.max_body_bytes + 2 * limits.max_body_lines + 2);
    auto body = co_await s->retr(msgno);
    check_outcome(body);
    check(!body || body->size() <= limits.max_body_bytes + 2 * limits.max_body_lines + 2);
    check_outcome(co_await s->dele(msgno));
    check_outcome(co_await s->quit());
    fuzz_session::check_no_secret(log.text());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    return fuzz_session::run_input(data, size, client);
}
