// libFuzzer target for protocols::imap::session, the fetch side of a probe: byte 0 picks the
// login (bit 0: a token instead of a password), the rest is everything the server says,
// played over loopback before the server hangs up. The client walks a probe's whole
// conversation (connect, login, LIST, SELECT, UID SEARCH, UID FETCH of headers and of whole
// messages, delete, LOGOUT), going on after failures so that every command also meets a
// broken connection. Invariants, trapped on violation: the session ends (the deadlines hold),
// failures name their stage, only the messages asked for are returned, and the secret
// reaches neither the transcript nor an error.
#include "tests/fuzz/session_peer.h"

#include "protocols/common/transcript.h"
#include "protocols/imap/session.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace {

using fuzz_session::check;
using fuzz_session::check_outcome;

/// Whatever else the server volunteers, only messages we asked for come back.
void check_asked(const engine::result<std::vector<protocols::imap::fetched_message>>& r, const std::vector<std::uint32_t>& uids)
{
    if (!r) {
        return;
    }
    for (const auto& m : r.value()) {
        check(std::find(uids.begin(), uids.end(), m.uid) != uids.end());
    }
}

engine::task<void> client(std::uint16_t port, std::uint8_t shape)
{
    protocols::transcript log;
    auto s = co_await protocols::imap::session::connect(fuzz_session::endpoint_on(port), &log);
    if (!s) {
        fuzz_session::check_error(s.err());
        co_return;
    }
    auto login = co_await s->login(fuzz_session::login_with((shape & 1) != 0));
    check_outcome(login);
    auto boxes = co_await s->list();
    check_outcome(boxes);
    auto selected = co_await s->select("INBOX");
    check_outcome(selected);
    auto found = co_await s->uid_search_header("X-Mailprobe", "0190a5e4-7b1c-7cc2-8d1e-3f4a5b6c7d8e");
    check_outcome(found);
    std::vector<std::uint32_t> uids = found && !found->empty() ? *found : std::vector<std::uint32_t>{1, 2};
    if (uids.size() > 8) {
        uids.resize(8);
    }
    auto headers = co_await s->uid_fetch_headers(uids);
    check_outcome(headers);
    check_asked(headers, uids);
    auto whole = co_await s->uid_fetch_messages(uids);
    check_outcome(whole);
    check_asked(whole, uids);
    auto deleted = co_await s->uid_delete(uids);
    check_outcome(deleted);
    co_await s->logout();
    fuzz_session::check_no_secret(log.text());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    return fuzz_session::run_input(data, size, client);
}
