// `mailprobe check` (the binary, MAILPROBE_EXE) with OAuth2 tokens against the built-in server
// in bearer mode on loopback: a token from a file logs in on SMTP and IMAP (OK), a wrong one
// is CRITICAL at auth in the server's words, and a token command does not inherit the
// variables the flags take secrets from, nor the HMAC key's.
#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "tests/support/child_process.h"
#include "tools/server/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>
#include <sys/stat.h>
#include <thread>

using namespace std::chrono_literals;

namespace {

constexpr std::string_view good_token = "at-good-0123456789abcdef";

/// The built-in server in bearer mode, serving on a thread of its own until destroyed.
class bearer_server {
public:
    bearer_server()
    {
        auto started = m_ready.get_future();
        m_thread = std::thread([this] { serve(&m_ready); });
        m_started = started.get();
    }
    ~bearer_server()
    {
        m_stop = true;
        m_thread.join();
    }
    bool started() const noexcept { return m_started; }
    std::uint16_t smtp_port() const noexcept { return m_smtp; }
    std::uint16_t imap_port() const noexcept { return m_imap; }
    const std::string& ca_pem() const noexcept { return m_ca; }

private:
    void serve(std::promise<bool>* ready)
    {
        builtin::config c;
        builtin::domain_config d{"contoso.test", {}, {}};
        d.mailboxes.push_back({"probe@contoso.test", "probe", "probe-pw", false});
        c.domains = {d};
        c.listeners = {
            {"submission", builtin::protocol::smtp, protocols::tls_mode::starttls, "127.0.0.1", 0},
            {"imaps", builtin::protocol::imap, protocols::tls_mode::implicit, "127.0.0.1", 0},
        };
        c.accept_token = [](std::string_view token) { return token == good_token; };
        engine::loop loop;
        builtin::server srv(c);
        if (!srv.start()) {
            ready->set_value(false);
            return;
        }
        m_smtp = srv.port("submission");
        m_imap = srv.port("imaps");
        m_ca = srv.ca_pem();
        ready->set_value(true);
        loop.run([](builtin::server* s, std::atomic<bool>* stop) -> engine::task<void> {
            engine::scope sc;
            sc.spawn(s->run());
            while (!stop->load()) {
                const bool slept = co_await engine::sleep_for(20ms);
                if (!slept) {
                    break;
                }
            }
            s->stop();
            co_await sc.join();
        }(&srv, &m_stop));
    }

    std::promise<bool> m_ready;
    std::thread m_thread;
    std::atomic<bool> m_stop{false};
    bool m_started = false;
    std::uint16_t m_smtp = 0;
    std::uint16_t m_imap = 0;
    std::string m_ca;
};

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class CheckWithTokens : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_TRUE(m_server.started());
        const char* exe = std::getenv("MAILPROBE_EXE");
        ASSERT_TRUE(exe && *exe) << "MAILPROBE_EXE is not set";
        m_exe = exe;
        m_ca = m_dir.write("ca.pem", m_server.ca_pem());
    }

    /// Runs one check with `login` flags for both sides and returns its status line.
    std::string check(std::vector<std::string> login) const
    {
        std::vector<std::string> argv{m_exe, "check", "--smtp", "127.0.0.1:" + std::to_string(m_server.smtp_port()),
            "--smtp-tls", "starttls", "--smtp-user", "probe@contoso.test", "--fetch",
            "imaps://127.0.0.1:" + std::to_string(m_server.imap_port()), "--from", "probe@contoso.test", "--to",
            "probe@contoso.test", "--ca-file", m_ca, "--verify-name", "localhost", "--deadline", "10s", "--poll",
            "200ms"};
        argv.insert(argv.end(), login.begin(), login.end());
        test_support::child_process mp(argv);
        auto out = mp.wait_for_output("MAILPROBE ", 30s);
        std::this_thread::sleep_for(100ms);   // the rest of the line
        return out.empty() ? "(no status line) " + mp.output() : mp.output();
    }

    bearer_server m_server;
    test_support::temp_dir m_dir;
    std::string m_exe;
    std::string m_ca;
};

TEST_F(CheckWithTokens, ATokenFileLogsInOnBothSides)
{
    std::string token = m_dir.write("token", std::string(good_token) + "\n");
    auto line = check({"--smtp-oauth2-token-file", token, "--fetch-oauth2-token-file", token});
    EXPECT_TRUE(line.starts_with("MAILPROBE OK - delivered in")) << line;
    EXPECT_EQ(line.find(good_token), std::string::npos) << line;
}

TEST_F(CheckWithTokens, AWrongTokenIsCriticalAtAuth)
{
    std::string token = m_dir.write("token", "at-wrong-0123456789\n");
    auto line = check({"--smtp-oauth2-token-file", token, "--fetch-oauth2-token-file", token});
    EXPECT_TRUE(line.starts_with("MAILPROBE CRITICAL")) << line;
    EXPECT_NE(line.find("auth"), std::string::npos) << line;
    EXPECT_NE(line.find("535 5.7.3 Authentication unsuccessful"), std::string::npos) << line;
    EXPECT_EQ(line.find("at-wrong-0123456789"), std::string::npos) << line;
}

// The token command prints its environment to a file: the other side's password variable and
// the HMAC key's are not there, PATH is.
TEST_F(CheckWithTokens, ATokenCommandGetsNoSecretVariables)
{
    std::string env_file = m_dir.path() + "/env.txt";
    std::string script = m_dir.write("token-helper",
        "#!/bin/sh\nprintenv > '" + env_file + "'\necho " + std::string(good_token) + "\n");
    ASSERT_EQ(::chmod(script.c_str(), 0700), 0);
    ::setenv("MP_CHECK_FETCH_PW", "fetch-password-0123456789", 1);
    ::setenv("MAILPROBE_HMAC_KEY", "check-hmac-key-0123456789abcdef", 1);
    auto line = check({"--smtp-oauth2-token-command", script, "--fetch-password-env", "MP_CHECK_FETCH_PW"});
    ::unsetenv("MP_CHECK_FETCH_PW");
    ::unsetenv("MAILPROBE_HMAC_KEY");
    // The bearer-mode server refuses the password on the fetch side; the command ran first.
    EXPECT_TRUE(line.starts_with("MAILPROBE CRITICAL")) << line;
    std::string env = read_file(env_file);
    EXPECT_NE(env.find("PATH="), std::string::npos) << env;
    EXPECT_EQ(env.find("MP_CHECK_FETCH_PW"), std::string::npos) << env;
    EXPECT_EQ(env.find("fetch-password-0123456789"), std::string::npos) << env;
    EXPECT_EQ(env.find("MAILPROBE_HMAC_KEY"), std::string::npos) << env;
    EXPECT_EQ(env.find("check-hmac-key"), std::string::npos) << env;
}

} // namespace
