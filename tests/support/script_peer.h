// A scripted loopback server for session tests: it plays one side of a recorded protocol
// transcript (what a real Postfix, Dovecot, Exim or Gmail said) against our client and
// checks what the client sends. Runs on the test's engine loop.
#pragma once

#include "engine/connection.h"
#include "engine/task.h"
#include "engine/tls.h"

#include <optional>
#include <string>
#include <vector>

namespace test_support {

struct script_step {
    enum class kind { send, expect, starttls, close, pause_ms };
    kind what;
    std::string text;   // send: bytes to send; expect: the line the client must send (without
                        // CRLF; a trailing '*' matches any rest of the line)
    static script_step send(std::string t) { return {kind::send, std::move(t)}; }
    static script_step expect(std::string t) { return {kind::expect, std::move(t)}; }
    static script_step starttls() { return {kind::starttls, {}}; }
    static script_step close() { return {kind::close, {}}; }
    static script_step pause(int ms) { return {kind::pause_ms, std::to_string(ms)}; }
};

struct script_outcome {
    bool completed = false;           // every step ran
    std::vector<std::string> received;   // the lines the client sent, in order
    std::string mismatch;             // the first expectation that failed, if any
};

/// Accepts one client on `l` and plays `steps`. `tls` is used for starttls steps and, when
/// `implicit_tls`, right after accept.
engine::task<script_outcome> play_script(engine::listener* l, std::vector<script_step> steps,
    std::optional<engine::tls_context> tls = std::nullopt, bool implicit_tls = false);

/// A CA and a server certificate for localhost/127.0.0.1, made once per test binary.
struct test_tls {
    engine::tls_context server;
    engine::tls_context client;   // trusts the test CA
};
const test_tls& loopback_tls();

} // namespace test_support
