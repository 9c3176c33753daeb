// A helper process for tests (openssl s_server and the like): started with posix_spawn,
// its stdout captured to a file that the test can wait on, killed and reaped when the
// object goes away, so no process outlives its test.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <sys/types.h>

namespace test_support {

class child_process {
public:
    /// Starts `argv` (argv[0] found on PATH) with stdout and stderr going to a temp file.
    explicit child_process(std::vector<std::string> argv);
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    /// Waits until the output contains `needle`; returns the whole output, or "" after
    /// `timeout` (or when the process exited first).
    std::string wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) const;
    std::string output() const;

private:
    pid_t m_pid = -1;
    std::string m_log;
};

/// A fresh private directory under $TMPDIR, removed with its files on destruction.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::string& path() const noexcept { return m_path; }
    /// Writes `content` to path()/name and returns the full path.
    std::string write(const std::string& name, const std::string& content) const;

private:
    std::string m_path;
};

} // namespace test_support
