// See state_file.h.
#include "probe/state_file.h"

#include "probe/replace_file.h"
#include "protocols/common/sanitize.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace probe {

using engine::errc;
using engine::make_error;
using engine::stage;

namespace {

// Far above any real state (64 outstanding ids per probe take about 6 KiB), and small enough
// that a wrong --state path pointing at a big file is refused rather than read.
constexpr std::size_t max_state_bytes = 64 * 1024 * 1024;

engine::error file_error(const std::string& path, std::string what)
{
    return make_error(stage::none, errc::invalid_argument, fmt::format("{}: {}", path, what));
}

std::string sys_text(int err) { return std::strerror(err); }

/// Reads all of `fd`; false on a read error or when it outgrows max_state_bytes.
bool read_all(int fd, std::string& out, int& err)
{
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            err = errno;
            return false;
        }
        if (n == 0) {
            return true;
        }
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > max_state_bytes) {
            err = EFBIG;
            return false;
        }
    }
}

} // namespace

engine::result<state_file> state_file::open(std::string path)
{
    std::string lock_path = path + ".lock";
    int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) {
        return file_error(lock_path, "cannot open the lock file: " + sys_text(errno));
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ::close(lock_fd);
        if (err == EWOULDBLOCK) {
            return file_error(path, "another mailprobe run is using this state file");
        }
        return file_error(lock_path, "cannot lock: " + sys_text(err));
    }
    state_file st(std::move(path), lock_fd);
    int fd = ::open(st.m_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return st;
        }
        return file_error(st.m_path, "cannot open: " + sys_text(errno));
    }
    std::string text;
    int err = 0;
    bool ok = read_all(fd, text, err);
    ::close(fd);
    if (!ok) {
        return file_error(st.m_path, err == EFBIG ? fmt::format("larger than {} bytes: not a state file", max_state_bytes)
                                                  : "cannot read: " + sys_text(err));
    }
    if (auto parsed = st.parse(text); !parsed) {
        return std::move(parsed).err();
    }
    return st;
}

engine::result<void> state_file::parse(std::string_view text)
{
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto e = parser.parse(text.data(), text.size()).get(doc); e != simdjson::SUCCESS) {
        return file_error(m_path, fmt::format("not JSON: {}", simdjson::error_message(e)));
    }
    int64_t version = 0;
    if (doc["mailprobe_state"].get(version) != simdjson::SUCCESS || version != 1) {
        return file_error(m_path, "not a mailprobe state file (expected \"mailprobe_state\": 1)");
    }
    simdjson::dom::array probes;
    if (doc["probes"].get(probes) != simdjson::SUCCESS) {
        return file_error(m_path, "/probes: expected an array");
    }
    std::size_t i = 0;
    for (simdjson::dom::element p : probes) {
        std::string at = fmt::format("/probes/{}", i++);
        std::string_view tenant;
        std::string_view name;
        simdjson::dom::array list;
        if (p["tenant"].get(tenant) != simdjson::SUCCESS || p["probe"].get(name) != simdjson::SUCCESS
            || p["outstanding"].get(list) != simdjson::SUCCESS) {
            return file_error(m_path, at + ": expected an object with tenant, probe and outstanding");
        }
        std::vector<outstanding> out;
        std::size_t j = 0;
        for (simdjson::dom::element o : list) {
            std::string item = fmt::format("{}/outstanding/{}", at, j++);
            std::string_view id_text;
            uint64_t sent = 0;
            if (o["id"].get(id_text) != simdjson::SUCCESS || o["sent_unix_ms"].get(sent) != simdjson::SUCCESS) {
                return file_error(m_path, item + ": expected an object with id and sent_unix_ms");
            }
            auto id = protocols::message::probe_id::parse(id_text);
            if (!id) {
                return file_error(m_path, item + "/id: not a probe id");
            }
            out.push_back({*id, sent});
        }
        if (out.size() > max_outstanding) {
            out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(max_outstanding));
        }
        m_probes[{std::string(tenant), std::string(name)}] = std::move(out);
    }
    return {};
}

state_file::state_file(state_file&& other) noexcept
    : m_path(std::move(other.m_path)), m_lock_fd(other.m_lock_fd), m_probes(std::move(other.m_probes))
{
    other.m_lock_fd = -1;
}

state_file::~state_file()
{
    if (m_lock_fd >= 0) {
        ::close(m_lock_fd);   // closing releases the flock
    }
}

std::vector<outstanding> state_file::get(const std::string& tenant, const std::string& probe) const
{
    auto it = m_probes.find({tenant, probe});
    return it == m_probes.end() ? std::vector<outstanding>{} : it->second;
}

void state_file::put(const std::string& tenant, const std::string& probe, std::vector<outstanding> list)
{
    if (list.empty()) {
        m_probes.erase({tenant, probe});
    } else {
        m_probes[{tenant, probe}] = std::move(list);
    }
}

std::string state_file::to_json() const
{
    std::string out = "{\"mailprobe_state\": 1,\n \"probes\": [";
    bool first = true;
    for (const auto& [key, list] : m_probes) {
        out += first ? "\n  {\"tenant\": " : ",\n  {\"tenant\": ";
        first = false;
        out += protocols::json_quoted(key.first);
        out += ", \"probe\": ";
        out += protocols::json_quoted(key.second);
        out += ", \"outstanding\": [";
        for (std::size_t i = 0; i < list.size(); ++i) {
            out += fmt::format("{}{{\"id\": \"{}\", \"sent_unix_ms\": {}}}", i ? ", " : "", list[i].id.to_string(),
                list[i].sent_unix_ms);
        }
        out += "]}";
    }
    out += "]}\n";
    return out;
}

engine::result<void> state_file::save() const
{
    if (auto r = replace_file(m_path, to_json()); !r) {
        return file_error(m_path, "cannot replace: " + r.err().message);
    }
    return {};
}

} // namespace probe
