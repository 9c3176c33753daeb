// Loader and validator tests: the shipped examples load, every broken file reports the right
// JSON pointer and message, keep_going skips only bad probes, secrets resolve from env and
// files and never show up in messages, and a 100,000-probe scenario loads.
#include "scenario_text.h"

#include "scenarios/loader.h"
#include "scenarios/validate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using scenario_test::all_errors;
using scenario_test::base_scenario;
using scenario_test::edited;
using scenario_test::options;
using scenarios::load_result;
using scenarios::load_string;

std::string examples_dir()
{
    const char* root = std::getenv("MAILPROBE_SOURCE_ROOT");
    return std::string(root != nullptr ? root : ".") + "/scenarios/examples";
}

bool has_error(const load_result& r, std::string_view pointer, std::string_view message)
{
    return std::any_of(r.errors.begin(), r.errors.end(),
        [&](const scenarios::diagnostic& d) { return d.pointer == pointer && d.message == message; });
}

TEST(Loader, BaseScenarioLoads)
{
    auto r = load_string(base_scenario, "base.json", options());
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_TRUE(r.errors.empty());
    const auto& s = *r.value;
    ASSERT_EQ(s.servers.size(), 5u);
    EXPECT_EQ(s.servers[0].port, 587);   // smtp + starttls
    EXPECT_EQ(s.servers[1].port, 993);
    EXPECT_EQ(s.servers[2].port, 465);
    EXPECT_EQ(s.servers[4].port, 995);
    EXPECT_EQ(s.servers[0].auth->password->reveal(), "s3cr3t-pw-value");
    EXPECT_EQ(s.servers[0].auth->password->origin(), "env PW");
    EXPECT_EQ(s.mailboxes[0].login.user, "probe@internal.test");   // defaults to the address
    EXPECT_EQ(s.probes[0].interval, 300s);
    EXPECT_EQ(s.hmac_key.reveal(), "0123456789abcdef0123");
}

TEST(Loader, EveryExampleLoadsAndValidates)
{
    const char* names[] = {"topology-1.json", "topology-2.json", "topology-3.json", "topology-4.json",
        "topology-5.json", "topology-6.json", "junk-folder.json", "oauth2.json"};
    for (const char* name : names) {
        auto r = scenarios::load(examples_dir() + "/" + name, options());
        ASSERT_TRUE(r.ok()) << name << "\n" << all_errors(r);
        EXPECT_TRUE(r.errors.empty()) << name;
        for (const auto& w : r.warnings) {
            ADD_FAILURE() << name << ": unexpected warning " << w.to_string();
        }
        const auto& s = *r.value;
        ASSERT_FALSE(s.probes.empty()) << name;
        EXPECT_EQ(s.probes[0].interval, 2min) << name;   // from the defaults block
        EXPECT_EQ(s.servers[0].connect_timeout, 5s) << name;
        for (const auto& srv : s.servers) {
            EXPECT_EQ(srv.ca_file, "/run/test/ca/ca.pem") << name;   // ${MAILSERVERS_CA_FILE}
        }
        std::string topology = name;
        if (topology.starts_with("topology-")) {
            EXPECT_EQ(s.probes[0].topology, topology[9] - '0') << name;
        }
    }
}

TEST(Loader, ExamplesUseTheTestServersForwarding)
{
    auto r3 = scenarios::load(examples_dir() + "/topology-3.json", options());
    ASSERT_TRUE(r3.ok()) << all_errors(r3);
    EXPECT_EQ(r3.value->probes[0].to, "fwd@external.test");
    EXPECT_EQ(r3.value->find_mailbox(r3.value->probes[0].fetch)->address, "probe-back@internal.test");
    auto junk = scenarios::load(examples_dir() + "/junk-folder.json", options());
    ASSERT_TRUE(junk.ok()) << all_errors(junk);
    EXPECT_EQ(junk.value->probes[0].junk, scenarios::junk_policy::warning);
    EXPECT_EQ(junk.value->mailboxes[0].junk_folders, std::vector<std::string>{"Junk"});
    EXPECT_FALSE(junk.value->probes[1].enabled);
}

struct broken_case {
    const char* what;
    std::string_view from;
    std::string_view to;
    const char* pointer;
    const char* message;
};

const broken_case broken_cases[] = {
    {"misspelt key", R"("protocol": "smtp", "host": "127.0.0.10")", R"("prot": "smtp", "host": "127.0.0.10")",
        "/servers/0/prot", "unknown key 'prot' (did you mean 'protocol'?)"},
    {"port out of range", R"("tls": "starttls", "zone": "internal")", R"("tls": "starttls", "port": 70000, "zone": "internal")",
        "/servers/0/port", "port must be 1-65535"},
    {"port not a whole number", R"("tls": "starttls", "zone": "internal")", R"("tls": "starttls", "port": 25.5, "zone": "internal")",
        "/servers/0/port", "port must be 1-65535 (a whole number)"},
    {"undefined server", R"("send_via": "int-smtp")", R"("send_via": "nope")", "/probes/0/send_via",
        "server 'nope' is not defined"},
    {"undefined mailbox", R"("fetch": "int-probe")", R"("fetch": "nope")", "/probes/0/fetch",
        "mailbox 'nope' is not defined"},
    {"undefined tenant", R"("tenant": "t", "topology")", R"("tenant": "x", "topology")", "/probes/0/tenant",
        "tenant 'x' is not defined"},
    {"topology out of range", R"("topology": 1)", R"("topology": 7)", "/probes/0/topology", "topology must be 1-6"},
    {"topology of wrong type", R"("topology": 1)", R"("topology": "1")", "/probes/0/topology", "topology must be a number"},
    {"send_via not smtp", R"("send_via": "int-smtp")", R"("send_via": "int-imap")", "/probes/0/send_via",
        "send_via 'int-imap' is an imap server; probes send through an smtp server"},
    {"mailbox on an smtp server", R"("server": "int-imap", "password")", R"("server": "int-smtp", "password")",
        "/mailboxes/0/server", "mailbox 'int-probe' uses server 'int-smtp', which is smtp; a mailbox needs an imap or pop3 server"},
    {"outgoing zone", R"("topology": 1, "send_via": "int-smtp")", R"("topology": 1, "send_via": "ext-smtp")",
        "/probes/0/send_via", "topology 1 sends through an internal server, but 'ext-smtp' is external"},
    {"outgoing zone, topology 3", R"("topology": 1, "send_via": "int-smtp")", R"("topology": 3, "send_via": "ext-smtp")",
        "/probes/0/send_via", "topology 3 sends through an internal server, but 'ext-smtp' is external"},
    {"fetch zone", R"("fetch": "int-probe")", R"("fetch": "ext-probe")", "/probes/0/fetch",
        "topology 1 fetches from an internal server, but mailbox 'ext-probe' is on 'ext-imap', which is external"},
    {"recipient zone", R"("to": "probe@internal.test")", R"("to": "probe@external.test")", "/probes/0/to",
        "topology 1 sends to an internal recipient, but 'probe@external.test' is external (internal_domains: internal.test)"},
    {"forwarding needs another mailbox", R"("topology": 1, "send_via": "int-smtp", "from": "sender@internal.test",
     "to": "probe@internal.test", "fetch": "int-probe")",
        R"("topology": 6, "send_via": "ext-smtp", "from": "sender@external.test",
     "to": "probe@internal.test", "fetch": "odd")",
        "/probes/0/fetch", "topology 6 relies on forwarding, so the fetched mailbox must not be the recipient, but mailbox 'odd' is 'probe@internal.test'"},
    {"deadline not above poll", R"("fetch": "int-probe")", R"("fetch": "int-probe", "deadline": "5s", "poll": "10s", "interval": "1m")",
        "/probes/0/deadline", "deadline (5s) must be longer than poll (10s)"},
    {"poll zero", R"("fetch": "int-probe")", R"("fetch": "int-probe", "poll": "0s")", "/probes/0/poll",
        "poll must be longer than 0"},
    {"interval below deadline", R"("fetch": "int-probe")", R"("fetch": "int-probe", "interval": "1m")",
        "/probes/0/interval", "interval (1m) must be at least the deadline (2m), or probes would overlap"},
    {"bad duration", R"("fetch": "int-probe")", R"("fetch": "int-probe", "interval": "5 minutes")", "/probes/0/interval",
        "interval '5 minutes' is not a duration; write e.g. \"250ms\", \"30s\", \"5m\" or \"1h30m\""},
    {"duration too long", R"("fetch": "int-probe")", R"("fetch": "int-probe", "interval": "25h")", "/probes/0/interval",
        "interval must be at most 24h"},
    {"duplicate key", R"("topology": 1,)", R"("topology": 1, "topology": 2,)", "/probes/0/topology",
        "duplicate key 'topology'"},
    {"missing key", R"("tenant": "t", )", "", "/probes/0", "missing key 'tenant'"},
    {"duplicate probe name", R"("fetch": "int-probe"}
  ])", R"("fetch": "int-probe"},
    {"name": "p1", "tenant": "t", "topology": 1, "send_via": "int-smtp", "from": "sender@internal.test",
     "to": "probe@internal.test", "fetch": "int-probe"}
  ])", "/probes/1/name", "probe name 'p1' is already used by /probes/0"},
    {"duplicate server name", R"("name": "ext-pop3")", R"("name": "ext-imap")", "/servers/4/name",
        "server name 'ext-imap' is already used by /servers/3"},
    {"unknown enum value", R"("tls": "starttls")", R"("tls": "startls")", "/servers/0/tls",
        "unknown tls 'startls' (did you mean 'starttls'?); use none, starttls or implicit"},
    {"insecure with tls none", R"("tls": "implicit", "zone": "internal")", R"("tls": "none", "insecure": true, "zone": "internal")",
        "/servers/1/insecure", "insecure contradicts tls \"none\": there is no certificate to skip; remove it or enable TLS"},
    {"auth on imap", R"("tls": "implicit", "zone": "internal")",
        R"("tls": "implicit", "zone": "internal", "auth": {"user": "u", "password": {"env": "PW"}})",
        "/servers/1/auth", "auth is only for smtp servers; imap logins belong to the mailbox"},
    {"pop3 folders", R"("server": "ext-imap", "password": {"env": "PW"})",
        R"("server": "ext-pop3", "password": {"env": "PW"}, "extra_folders": ["Archive"])",
        "/mailboxes/1/extra_folders", "pop3 sees only INBOX: extra_folders needs an imap server"},
    {"pop3 kept session", R"("server": "ext-imap", "password": {"env": "PW"})",
        R"("server": "ext-pop3", "password": {"env": "PW"}, "keep_session": "5m")",
        "/mailboxes/1/keep_session", "a pop3 session sees the maildrop as it was at login: keep_session needs an imap server"},
    {"kept session too long", R"("server": "ext-imap", "password": {"env": "PW"})",
        R"("server": "ext-imap", "password": {"env": "PW"}, "keep_session": "31m")",
        "/mailboxes/1/keep_session", "keep_session is at most 30m (servers may log out idle sessions after 30 minutes)"},
    {"secret as plain string", R"("password": {"env": "PW"}}},)", R"("password": "hunter2-plain"}},)",
        "/servers/0/auth/password",
        "password must be a secret reference: {\"env\": \"NAME\"}, {\"file\": \"PATH\"} or {\"inline\": \"...\"}"},
    {"missing env var", R"("password": {"env": "PW"}}},)", R"("password": {"env": "NOPE"}}},)",
        "/servers/0/auth/password/env", "environment variable 'NOPE' is not set (password from env)"},
    {"empty env var", R"("password": {"env": "PW"}}},)", R"("password": {"env": "EMPTY"}}},)",
        "/servers/0/auth/password/env", "environment variable 'EMPTY' is empty (password from env)"},
    {"two secret sources", R"("password": {"env": "PW"}}},)", R"("password": {"env": "PW", "inline": "x"}}},)",
        "/servers/0/auth/password", "password needs exactly one of \"env\", \"file\" or \"inline\""},
    {"missing secret file", R"("password": {"env": "PW"}}},)", R"("password": {"file": "/nonexistent/pw"}}},)",
        "/servers/0/auth/password/file", "cannot read secret file '/nonexistent/pw': No such file or directory"},
    {"secret file not regular", R"("password": {"env": "PW"}}},)", R"("password": {"file": "/dev/zero"}}},)",
        "/servers/0/auth/password/file", "secret file '/dev/zero' is not a regular file"},
    {"short hmac key", R"({"env": "HMAC"})", R"({"inline": "short-key"})", "/hmac_key",
        "hmac_key must be 16 to 64 bytes long"},
    {"long hmac key", R"({"env": "HMAC"})",
        R"({"inline": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefX"})", "/hmac_key",
        "hmac_key must be 16 to 64 bytes long"},
    {"probe name with @", R"("name": "p1", "tenant")", R"("name": "p1@x", "tenant")", "/probes/0/name",
        "probe name 'p1@x' must be at most 64 characters and without '@'"},
    {"unset variable", R"("host": "127.0.0.20", "tls": "implicit", "zone": "external"},
    {"name": "ext-pop3")", R"("host": "${UNSET_VAR}", "tls": "implicit", "zone": "external"},
    {"name": "ext-pop3")", "/servers/3/host", "environment variable 'UNSET_VAR' is not set (used as ${UNSET_VAR} in host)"},
    {"unterminated variable", R"("host": "127.0.0.10", "tls": "implicit")", R"("host": "${HOST", "tls": "implicit")",
        "/servers/1/host", "unterminated ${ in host (write $$ for a literal '$')"},
    {"unknown top-level key", R"("tenants")", R"("tenant")", "/tenant",
        "unknown key 'tenant' (did you mean 'tenants'?)"},
    {"bounce mailbox undefined", R"("fetch": "int-probe")", R"("fetch": "int-probe", "bounce_mailbox": "gone")",
        "/probes/0/bounce_mailbox", "mailbox 'gone' is not defined"},
    {"bad address", R"("from": "sender@internal.test")", R"("from": "sender at internal")", "/probes/0/from",
        "from 'sender at internal' is not an address like user@example.org"},
    {"control characters", R"("from": "sender@internal.test")", R"("from": "sender@internal.test\r\nRCPT TO:<x@y>")",
        "/probes/0/from", "from must not contain control characters"},
    {"bad name", R"("name": "p1")", R"("name": "p 1")", "/probes/0/name",
        "name 'p 1' must be 1-128 letters, digits, '.', '_', '-' or '@'"},
    {"bad auth result", R"("fetch": "int-probe")", R"("fetch": "int-probe", "require_auth_results": {"dkim": "softfail"})",
        "/probes/0/require_auth_results/dkim",
        "unknown dkim 'softfail'; use none, pass, fail, policy, neutral, temperror or permerror"},
    {"bad auth verdict", R"("fetch": "int-probe")",
        R"("fetch": "int-probe", "require_auth_results": {"dkim": "pass", "verdict": "fail"})",
        "/probes/0/require_auth_results/verdict", "unknown verdict 'fail'; use down or warning"},
    {"auth verdict alone", R"("fetch": "int-probe")",
        R"("fetch": "int-probe", "require_auth_results": {"verdict": "down"})", "/probes/0/require_auth_results",
        "require_auth_results sets a verdict but demands none of spf, dkim, dmarc"},
    {"wrong version", R"("internal_domains")", R"("version": 2, "internal_domains")", "/version",
        "version must be 1 (the only scenario format so far)"},
    {"not an object", R"({"name": "t"}, {"name": "u")", R"("t", {"name": "u")", "/tenants/0", "value must be an object"},
    {"limit of zero", R"("internal_domains")", R"("defaults": {"limits": {"per_server": 0}}, "internal_domains")",
        "/defaults/limits/per_server", "per_server must be 1-1000000"},
    {"limit not a number", R"("internal_domains")", R"("defaults": {"limits": {"concurrent": "many"}}, "internal_domains")",
        "/defaults/limits/concurrent", "concurrent must be a number"},
    {"unknown limit", R"("internal_domains")", R"("defaults": {"limits": {"speed": 5}}, "internal_domains")",
        "/defaults/limits/speed", "unknown key 'speed'"},
    {"zero back-off", R"("internal_domains")", R"("defaults": {"limits": {"backoff_initial": "0s"}}, "internal_domains")",
        "/defaults/limits/backoff_initial", "backoff_initial must be longer than 0"},
    {"back-off cap below its start", R"("internal_domains")",
        R"("defaults": {"limits": {"backoff_initial": "2m", "backoff_max": "1m"}}, "internal_domains")",
        "/defaults/limits/backoff_max", "backoff_max must not be shorter than backoff_initial"},
    {"bad dns_ttl", R"("internal_domains")", R"("defaults": {"dns_ttl": "forever"}, "internal_domains")",
        "/defaults/dns_ttl", "dns_ttl 'forever' is not a duration; write e.g. \"250ms\", \"30s\", \"5m\" or \"1h30m\""},
};

TEST(Loader, BrokenFilesNameThePathAndTheProblem)
{
    for (const auto& c : broken_cases) {
        std::string text = edited(c.from, c.to);
        std::string odd_mailbox = R"({"name": "odd", "address": "probe@internal.test", "server": "ext-imap", "password": {"env": "PW"}},
    {"name": "int-probe")";
        if (std::string_view(c.what) == "forwarding needs another mailbox") {
            std::string_view first = R"({"name": "int-probe")";
            text.replace(text.find(first), first.size(), odd_mailbox);
        }
        auto r = load_string(text, "broken.json", options());
        EXPECT_FALSE(r.ok()) << c.what;
        EXPECT_TRUE(has_error(r, c.pointer, c.message))
            << c.what << ": expected " << c.pointer << ": " << c.message << "\ngot:\n" << all_errors(r);
        for (const auto& e : r.errors) {
            EXPECT_EQ(e.to_string().find("hunter2"), std::string::npos) << e.to_string();
            EXPECT_EQ(e.to_string().find("s3cr3t"), std::string::npos) << e.to_string();
            EXPECT_EQ(e.file, "broken.json");
        }
    }
}

TEST(Loader, ErrorsCarryLineAndColumn)
{
    auto r = load_string(edited(R"("topology": 1)", R"("topology": 9)"), "f.json", options());
    ASSERT_FALSE(r.ok());
    ASSERT_FALSE(r.errors.empty());
    // Parse-time errors are located at the value: line 18 of base_scenario.
    EXPECT_EQ(r.errors[0].line, 18u) << all_errors(r);
    EXPECT_GT(r.errors[0].column, 1u);
    EXPECT_EQ(r.errors[0].to_string().substr(0, 10), "f.json:18:");
    EXPECT_NE(r.errors[0].to_string().find("/probes/0/topology: topology must be 1-6"), std::string::npos);
}

TEST(Loader, SyntaxErrorsAreReportedWithLocationWhenKnown)
{
    const char* broken[] = {
        R"({"servers": [ {"name": "a" "protocol": "smtp"} ]})",   // missing comma
        R"({"servers": [)",                                         // truncated
        R"({"hmac_key": {"inline": "0123456789abcdef"}, "probes": []} trailing)",
        R"({"servers": "unterminated)",
        "",
    };
    for (const char* text : broken) {
        auto r = load_string(text, "syntax.json", options());
        EXPECT_FALSE(r.ok()) << text;
        ASSERT_FALSE(r.errors.empty()) << text;
        bool syntax = std::any_of(r.errors.begin(), r.errors.end(), [](const scenarios::diagnostic& d) {
            return d.message.starts_with("JSON syntax error: ") || d.message == "unexpected text after the scenario object";
        });
        EXPECT_TRUE(syntax) << text << "\n" << all_errors(r);
    }
    auto r = load_string("{\n  \"servers\": [\n    {\"name\": \"a\" \"protocol\": 1}\n  ]\n}", "s.json", options());
    ASSERT_FALSE(r.errors.empty());
    EXPECT_EQ(r.errors.back().line, 3u) << all_errors(r);
}

TEST(Loader, RootMustBeAnObject)
{
    auto r = load_string("[1, 2]", "root.json", options());
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(has_error(r, "", "a scenario must be a JSON object")) << all_errors(r);
}

TEST(Loader, KeepGoingSkipsOnlyBadProbes)
{
    std::string text = edited(R"("fetch": "int-probe"}
  ])", R"("fetch": "int-probe"},
    {"name": "bad-ref", "tenant": "t", "topology": 1, "send_via": "gone", "from": "sender@internal.test",
     "to": "probe@internal.test", "fetch": "int-probe"},
    {"name": "bad-type", "tenant": "t", "topology": "one", "send_via": "int-smtp", "from": "sender@internal.test",
     "to": "probe@internal.test", "fetch": "int-probe"},
    {"name": "p2", "tenant": "u", "topology": 2, "send_via": "int-smtp", "from": "sender@internal.test",
     "to": "probe@external.test", "fetch": "ext-probe"}
  ])");
    auto strict = load_string(text, "k.json", options(false));
    EXPECT_FALSE(strict.ok());
    EXPECT_EQ(strict.errors.size(), 2u) << all_errors(strict);

    auto lenient = load_string(text, "k.json", options(true));
    ASSERT_TRUE(lenient.ok()) << all_errors(lenient);
    ASSERT_EQ(lenient.value->probes.size(), 2u);
    EXPECT_EQ(lenient.value->probes[0].name, "p1");
    EXPECT_EQ(lenient.value->probes[1].name, "p2");
    EXPECT_TRUE(has_error(lenient, "/probes/1/send_via", "server 'gone' is not defined")) << all_errors(lenient);
    EXPECT_TRUE(has_error(lenient, "/probes/2/topology", "topology must be a number")) << all_errors(lenient);
    EXPECT_EQ(lenient.skipped_probes, (std::vector<std::string>{"bad-ref", "/probes/2"}));
    for (const auto& e : lenient.errors) {
        EXPECT_TRUE(e.probe.has_value()) << e.to_string();
    }
}

TEST(Loader, KeepGoingStillFailsOnProblemsOutsideProbes)
{
    auto r = load_string(edited(R"("tls": "starttls")", R"("tls": "startls")"), "k.json", options(true));
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(has_error(r, "/servers/0/tls", "unknown tls 'startls' (did you mean 'starttls'?); use none, starttls or implicit"));
}

TEST(Loader, ErrorCountIsCapped)
{
    std::string text = R"({"hmac_key": {"inline": "0123456789abcdef"}, "probes": [)";
    for (int i = 0; i < 500; ++i) {
        text += std::string(i ? "," : "") + R"({"nme": 1})";
    }
    text += "]}";
    auto o = options();
    o.max_errors = 10;
    auto r = load_string(text, "many.json", o);
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 11u);
    EXPECT_NE(r.errors.back().message.find("more errors not shown"), std::string::npos);
}

class temp_file {
public:
    explicit temp_file(const std::string& content)
    {
        char name[] = "/tmp/scenario_secret_XXXXXX";
        int fd = ::mkstemp(name);
        m_path = name;
        std::ofstream(m_path, std::ios::binary) << content;
        ::close(fd);
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
    ~temp_file() { std::remove(m_path.c_str()); }
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

TEST(Secrets, FromEnvFileAndInline)
{
    temp_file pw("file-password-value\n");
    temp_file key("k-0123456789abcdef-k");
    std::string text = edited(R"("password": {"env": "PW"}}},)", R"("password": {"file": ")" + pw.path() + R"("}}},)");
    text.replace(text.find(R"({"env": "HMAC"})"), 15, R"({"file": ")" + key.path() + R"("})");
    text.replace(text.find(R"("password": {"env": "PW"})"), 25, R"("oauth2_token": {"inline": "inline-token-value"})");
    auto r = load_string(text, "sec.json", options());
    ASSERT_TRUE(r.ok()) << all_errors(r);
    const auto& s = *r.value;
    EXPECT_EQ(s.servers[0].auth->password->reveal(), "file-password-value");   // trailing newline dropped
    EXPECT_EQ(s.servers[0].auth->password->from(), scenarios::secret::source::file);
    EXPECT_EQ(s.servers[0].auth->password->origin(), "file " + pw.path());
    EXPECT_EQ(s.hmac_key.reveal(), "k-0123456789abcdef-k");
    ASSERT_TRUE(s.mailboxes[0].login.oauth2_token.has_value());
    EXPECT_FALSE(s.mailboxes[0].login.password.has_value());
    EXPECT_EQ(s.mailboxes[0].login.oauth2_token->reveal(), "inline-token-value");
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0].pointer, "/mailboxes/0/oauth2_token/inline");
    EXPECT_EQ(r.warnings[0].to_string().find("inline-token-value"), std::string::npos);
}

TEST(Secrets, RelativeFilesResolveAgainstBaseDir)
{
    temp_file pw("relative-pw");
    std::filesystem::path p(pw.path());
    auto o = options();
    o.base_dir = p.parent_path().string();
    auto r = load_string(edited(R"({"env": "HMAC"})", R"({"file": ")" + p.filename().string() + R"("})"), "rel.json", o);
    ASSERT_FALSE(r.ok());   // 11 bytes: too short for an HMAC key, which proves the file was read
    EXPECT_TRUE(has_error(r, "/hmac_key", "hmac_key must be 16 to 64 bytes long")) << all_errors(r);
}

TEST(Secrets, NeverPrintThemselves)
{
    scenarios::secret s("do-not-print-me", scenarios::secret::source::inline_value, "inline");
    std::ostringstream out;
    out << s;
    EXPECT_EQ(out.str(), "<redacted>");
    EXPECT_EQ(testing::PrintToString(s), "<redacted>");
    scenarios::secret copy = s;
    EXPECT_EQ(copy.reveal(), "do-not-print-me");
    scenarios::secret moved = std::move(copy);
    EXPECT_EQ(moved.reveal(), "do-not-print-me");
}

TEST(Secrets, ValuesNeverAppearInDiagnostics)
{
    // Every way a secret can be wrong, with a recognisable value nearby.
    const std::pair<std::string_view, std::string_view> edits[] = {
        {R"({"env": "HMAC"})", R"({"inline": "TOPSECRET"})"},
        {R"({"env": "HMAC"})", R"("TOPSECRET-0123456789")"},
        {R"({"env": "HMAC"})", R"({"inline": "TOPSECRET-0123456789", "env": "HMAC"})"},
        {R"({"env": "HMAC"})", R"({"inline": 12345})"},
        {R"({"env": "HMAC"})", R"({"env": "TOPSECRET"})"},
    };
    for (const auto& [from, to] : edits) {
        auto r = load_string(edited(from, to), "s.json", options());
        EXPECT_FALSE(r.ok()) << to;
        for (const auto* list : {&r.errors, &r.warnings}) {
            for (const auto& d : *list) {
                // The env case names the variable, which is not a secret; the others never echo.
                if (to.find("\"env\": \"TOPSECRET\"") == std::string_view::npos) {
                    EXPECT_EQ(d.to_string().find("TOPSECRET"), std::string::npos) << d.to_string();
                }
                EXPECT_EQ(d.to_string().find("0123456789abcdef0123"), std::string::npos) << d.to_string();
            }
        }
    }
}

TEST(Expansion, VariablesFallbacksAndEscapes)
{
    auto r = load_string(edited(R"("host": "127.0.0.10", "tls": "implicit")",
                             R"("host": "${NOT_SET:-127.0.0.11}", "tls": "implicit", "ca_file": "$${MAILSERVERS_CA_FILE}/${MAILSERVERS_CA_FILE}$")"),
        "x.json", options());
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_EQ(r.value->servers[1].host, "127.0.0.11");
    EXPECT_EQ(r.value->servers[1].ca_file, "${MAILSERVERS_CA_FILE}//run/test/ca/ca.pem$");
}

TEST(Validate, WarningsForInsecureAndIndirectDelivery)
{
    std::string text = edited(R"("tls": "implicit", "zone": "internal")", R"("tls": "implicit", "insecure": true, "zone": "internal")");
    text.replace(text.find(R"("to": "probe@internal.test")"), 27, R"("to": "alias@internal.test")");
    auto r = load_string(text, "w.json", options());
    ASSERT_TRUE(r.ok()) << all_errors(r);
    std::vector<std::string> got;
    for (const auto& w : r.warnings) {
        got.push_back(w.pointer + ": " + w.message);
    }
    EXPECT_EQ(got, (std::vector<std::string>{
                       "/servers/1/insecure: certificate verification is off for server 'int-imap'",
                       "/probes/0/fetch: topology 1 delivers directly, but mailbox 'int-probe' holds "
                       "'probe@internal.test', not the recipient 'alias@internal.test' (an alias?)",
                   }));
}

TEST(Validate, ClearTextLoginsAreOneWarningPerServer)
{
    // One mailbox on a server without TLS: the warning points at the mailbox.
    std::string one = edited(R"("tls": "implicit", "zone": "internal")", R"("tls": "none", "zone": "internal")");
    auto r = load_string(one, "c.json", options());
    ASSERT_TRUE(r.ok()) << all_errors(r);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0].pointer + ": " + r.warnings[0].message,
        "/mailboxes/0/server: mailbox 'int-probe' logs in to 'int-imap' in clear text (tls \"none\")");

    // Five: one warning at the server, naming the first three and counting the rest.
    std::string more;
    for (int i = 2; i <= 5; ++i) {
        more += R"(,
    {"name": "int-probe)" + std::to_string(i) + R"(", "address": "probe@internal.test", "server": "int-imap", "password": {"env": "PW"}})";
    }
    std::string five = one;
    std::string last = R"("server": "ext-imap", "password": {"env": "PW"}})";
    five.insert(five.find(last) + last.size(), more);
    r = load_string(five, "c.json", options());
    ASSERT_TRUE(r.ok()) << all_errors(r);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0].pointer + ": " + r.warnings[0].message,
        "/servers/1/tls: 5 mailboxes log in to 'int-imap' in clear text (tls \"none\"): "
        "'int-probe', 'int-probe2', 'int-probe3' and 2 more");
}

TEST(Validate, TopologyTable)
{
    using scenarios::network_zone;
    const auto in = network_zone::internal;
    const auto ex = network_zone::external;
    struct row { int topology; network_zone out, fetch, rcpt; bool forwarding; };
    const row rows[] = {{1, in, in, in, false}, {2, in, ex, ex, false}, {3, in, in, ex, true},
        {4, ex, ex, ex, false}, {5, ex, in, in, false}, {6, ex, ex, in, true}};
    for (const auto& r : rows) {
        auto z = scenarios::zones_of(r.topology);
        ASSERT_TRUE(z.has_value());
        EXPECT_EQ(z->outgoing, r.out) << r.topology;
        EXPECT_EQ(z->fetch, r.fetch) << r.topology;
        EXPECT_EQ(z->recipient, r.rcpt) << r.topology;
        EXPECT_EQ(z->forwarding, r.forwarding) << r.topology;
    }
    EXPECT_FALSE(scenarios::zones_of(0).has_value());
    EXPECT_FALSE(scenarios::zones_of(7).has_value());
}

TEST(Loader, DefaultsApplyWhereverTheBlockIs)
{
    // "defaults" after "probes": fields the probe gives win, the others come from the block.
    std::string text = edited(R"("fetch": "int-probe"}
  ])", R"("fetch": "int-probe", "poll": "3s"}
  ],
  "defaults": {"interval": "10m", "deadline": "5m", "poll": "30s", "warn_cert_days": 7, "command_timeout": "1m",
               "require_auth_results": {"spf": "pass", "dmarc": ["pass", "none"]}})");
    auto r = load_string(text, "d.json", options());
    ASSERT_TRUE(r.ok()) << all_errors(r);
    const auto& p = r.value->probes[0];
    EXPECT_EQ(p.interval, 10min);
    EXPECT_EQ(p.deadline, 5min);
    EXPECT_EQ(p.poll, 3s);
    EXPECT_EQ(p.warn_cert_days, 7);
    EXPECT_EQ(p.require_auth_results.spf, std::vector<std::string>{"pass"});
    EXPECT_EQ(p.require_auth_results.dmarc, (std::vector<std::string>{"pass", "none"}));
    EXPECT_EQ(p.require_auth_results.verdict, scenarios::junk_policy::warning) << "the default";
    EXPECT_EQ(r.value->servers[0].command_timeout, 1min);
}

TEST(Loader, AuthResultsVerdictDown)
{
    std::string text = edited(R"("fetch": "int-probe")",
        R"("fetch": "int-probe", "require_auth_results": {"dkim": "pass", "verdict": "down"})");
    auto r = load_string(text, "v.json", options());
    ASSERT_TRUE(r.ok()) << all_errors(r);
    const auto& p = r.value->probes[0];
    EXPECT_EQ(p.require_auth_results.dkim, std::vector<std::string>{"pass"});
    EXPECT_EQ(p.require_auth_results.verdict, scenarios::junk_policy::down);
}

TEST(Loader, LimitsAndDnsTtlComeFromTheDefaultsBlock)
{
    auto plain = load_string(base_scenario, "base.json", options());
    ASSERT_TRUE(plain.ok()) << all_errors(plain);
    const auto& built_in = plain.value->defaults_block;
    EXPECT_EQ(built_in.limits.concurrent, 2000u);
    EXPECT_EQ(built_in.limits.per_server, 100u);
    EXPECT_EQ(built_in.limits.per_tenant, 200u);
    EXPECT_EQ(built_in.limits.backoff_initial, 30s);
    EXPECT_EQ(built_in.limits.backoff_max, 15min);
    EXPECT_EQ(built_in.dns_ttl, 60s);

    auto r = load_string(edited(R"("internal_domains")", R"("defaults": {"dns_ttl": "5m", "limits": {"concurrent": 50,
        "per_server": 4, "per_tenant": 10, "backoff_initial": "10s", "backoff_max": "2m"}}, "internal_domains")"),
        "l.json", options());
    ASSERT_TRUE(r.ok()) << all_errors(r);
    const auto& l = r.value->defaults_block.limits;
    EXPECT_EQ(l.concurrent, 50u);
    EXPECT_EQ(l.per_server, 4u);
    EXPECT_EQ(l.per_tenant, 10u);
    EXPECT_EQ(l.backoff_initial, 10s);
    EXPECT_EQ(l.backoff_max, 2min);
    EXPECT_EQ(r.value->defaults_block.dns_ttl, 5min);
}

TEST(Loader, LoadsAHundredThousandProbes)
{
    constexpr int count = 100'000;
    std::string text(base_scenario.substr(0, base_scenario.find("\"probes\"")));
    text += "\"probes\": [\n";
    for (int i = 0; i < count; ++i) {
        text += i == 0 ? "" : ",\n";
        text += R"(  {"name": "probe-)" + std::to_string(i) + R"(", "tenant": ")" + (i % 2 ? "t" : "u") +
                R"(", "topology": 1, "send_via": "int-smtp", "from": "sender@internal.test", "to": "probe@internal.test", "fetch": "int-probe", "interval": ")" +
                std::to_string(5 + i % 10) + R"(m"})";
    }
    text += "\n]}\n";
    auto start = std::chrono::steady_clock::now();
    auto r = load_string(text, "big.json", options());
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_EQ(r.value->probes.size(), static_cast<std::size_t>(count));
    EXPECT_EQ(r.value->probes.back().name, "probe-99999");
    std::printf("[   INFO   ] loaded and validated %d probes (%zu bytes) in %lld ms\n", count, text.size(),
        static_cast<long long>(took.count()));
}

} // namespace
