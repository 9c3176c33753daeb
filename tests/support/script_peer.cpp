#include "tests/support/script_peer.h"

#include "engine/certs.h"
#include "engine/timer.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

using namespace std::chrono_literals;

namespace test_support {

engine::task<script_outcome> play_script(engine::listener* l, std::vector<script_step> steps,
    std::optional<engine::tls_context> tls, bool implicit_tls)
{
    script_outcome out;
    auto c = co_await l->accept();
    if (!c) {
        out.mismatch = "accept failed: " + c.err().describe();
        co_return out;
    }
    auto until = engine::after(10s);
    if (implicit_tls && !co_await c->accept_tls(*tls, until)) {
        out.mismatch = "implicit TLS handshake failed";
        co_return out;
    }
    for (const auto& step : steps) {
        switch (step.what) {
        case script_step::kind::send:
            if (!co_await c->write(step.text, until)) {
                out.mismatch = "client went away before: " + step.text;
                co_return out;
            }
            break;
        case script_step::kind::expect: {
            std::size_t nl;
            while ((nl = c->buffered().find("\r\n")) == std::string_view::npos) {
                if (!co_await c->read(until)) {
                    out.mismatch = "client closed; expected: " + step.text;
                    co_return out;
                }
            }
            std::string line(c->buffered().substr(0, nl));
            c->consume(nl + 2);
            out.received.push_back(line);
            bool wildcard = !step.text.empty() && step.text.back() == '*';
            std::string want = wildcard ? step.text.substr(0, step.text.size() - 1) : step.text;
            if (wildcard ? line.rfind(want, 0) != 0 : line != want) {
                out.mismatch = "expected [" + step.text + "] got [" + line + "]";
                co_return out;
            }
            break;
        }
        case script_step::kind::starttls:
            if (!co_await c->accept_tls(*tls, until)) {
                out.mismatch = "STARTTLS handshake failed";
                co_return out;
            }
            break;
        case script_step::kind::close:
            co_await c->close();
            out.completed = true;
            co_return out;
        case script_step::kind::pause_ms:
            co_await engine::sleep_for(std::chrono::milliseconds(std::stoi(step.text)));
            break;
        }
    }
    // Drain until the client closes, so our close never races its last command.
    while (co_await c->read(until)) {
    }
    co_await c->close();
    out.completed = true;
    co_return out;
}

const test_tls& loopback_tls()
{
    static const test_tls t = [] {
        auto ca = engine::make_ca("mailprobe session-test CA");
        auto leaf = engine::issue_cert(*ca, {"localhost", {"localhost"}, {"127.0.0.1"}, 0, 0});
        if (!ca || !leaf) {
            throw std::runtime_error("cannot make test certificates");
        }
        std::string path = "/tmp/mailprobe-test-ca-" + std::to_string(getpid()) + ".pem";
        std::ofstream(path) << ca->cert;
        engine::tls_options o;
        o.ca_file = path;
        auto client = engine::tls_context::client(o);
        std::remove(path.c_str());   // loaded into the context; the file is no longer needed
        auto server = engine::tls_context::server(leaf->cert, leaf->key);
        if (!client || !server) {
            throw std::runtime_error("cannot make test TLS contexts");
        }
        return test_tls{*server, *client};
    }();
    return t;
}

} // namespace test_support
