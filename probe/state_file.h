// The next-poll state (`mailprobe run --once --state FILE`): per probe, the messages earlier
// runs sent and no run has seen yet. A small JSON file:
//
//   {"mailprobe_state": 1,
//    "probes": [{"tenant": "acme", "probe": "acme-in",
//                "outstanding": [{"id": "<UUIDv7>", "sent_unix_ms": 1795000000000}]}]}
//
// Saved whole into a temporary file in the same folder, flushed to disk and renamed over the
// old one, so a crash or kill -9 leaves the old state or the new one, never half of either.
// A lock file next to it (FILE.lock, flock) keeps two runs from sharing one state: the second
// is refused at once rather than made to wait behind a slow probe. Probes this run did not
// touch keep their entries.
#pragma once

#include "engine/result.h"
#include "probe/roundtrip.h"

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace probe {

class state_file {
public:
    /// Takes the lock and reads `path`; a missing file is an empty state. Errors (the lock is
    /// held, the file is unreadable or not a state file) name the file and what is wrong.
    static engine::result<state_file> open(std::string path);

    state_file(state_file&& other) noexcept;
    state_file& operator=(state_file&&) = delete;
    state_file(const state_file&) = delete;
    state_file& operator=(const state_file&) = delete;
    ~state_file();   // releases the lock

    std::vector<outstanding> get(const std::string& tenant, const std::string& probe) const;
    void put(const std::string& tenant, const std::string& probe, std::vector<outstanding> list);

    /// Writes the whole state (write, fsync, rename, fsync of the folder), mode 0600.
    engine::result<void> save() const;

    /// The file's text for the current state.
    std::string to_json() const;

private:
    explicit state_file(std::string path, int lock_fd) : m_path(std::move(path)), m_lock_fd(lock_fd) {}
    engine::result<void> parse(std::string_view text);

    std::string m_path;
    int m_lock_fd = -1;
    std::map<std::pair<std::string, std::string>, std::vector<outstanding>> m_probes;
};

} // namespace probe
