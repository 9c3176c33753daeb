// See replace_file.h.
#include "probe/replace_file.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace probe {

namespace {

engine::error io_error(std::string_view step, int err)
{
    return engine::make_error(engine::stage::none, engine::errc::io, fmt::format("{}: {}", step, std::strerror(err)));
}

/// The file a link at `path` leads to, so that the rename replaces the target and the link
/// stays a link; `path` itself when it is no link (or does not exist yet).
engine::result<std::string> target_of(const std::string& path)
{
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) {
        return path;
    }
    char* real = ::realpath(path.c_str(), nullptr);
    if (real == nullptr) {
        return io_error("cannot follow the link", errno);
    }
    std::string out(real);
    ::free(real);
    return out;
}

} // namespace

engine::result<void> replace_file(const std::string& link_or_path, std::string_view content)
{
    auto target = target_of(link_or_path);
    if (!target) {
        return std::move(target).err();
    }
    const std::string& path = *target;
    auto slash = path.rfind('/');
    std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    std::string tmp = path + ".tmp.XXXXXX";
    int fd = ::mkstemp(tmp.data());
    if (fd < 0) {
        return io_error("cannot create a temporary file beside it", errno);
    }
    std::size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    bool ok = done == content.size() && ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
    int err = errno;
    ok = ::close(fd) == 0 && ok;
    if (!ok) {
        ::unlink(tmp.c_str());
        return io_error("cannot write it", err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        err = errno;
        ::unlink(tmp.c_str());
        return io_error("cannot rename the new content over it", err);
    }
    if (int d = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
        ::fsync(d);
        ::close(d);
    }
    return {};
}

} // namespace probe
