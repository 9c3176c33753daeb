// task<T>: the coroutine type of the whole engine.
//
// Lazy: nothing runs until the task is awaited (or handed to loop::run / a scope). Move-only,
// it owns its frame, and it is awaited exactly once. The result or the exception of the body
// reaches the awaiter. The awaiting coroutine's stop token passes to the task, so a stop
// requested on a parent reaches every leaf operation below it (the folly model); leaf
// awaiters read it from the promise they suspend.
#pragma once

#include <cassert>
#include <coroutine>
#include <exception>
#include <optional>
#include <stop_token>
#include <utility>

namespace engine {

template <class T = void>
class task;

namespace detail {

template <class P>
concept has_stop_token = requires(P& p) {
    { p.stop_token() } -> std::convertible_to<std::stop_token>;
};

/// The stop token of the coroutine behind `h`, or an empty one for foreign coroutines.
template <class P>
std::stop_token stop_token_of(std::coroutine_handle<P> h) noexcept
{
    if constexpr (has_stop_token<P>) {
        return h.promise().stop_token();
    } else {
        return {};
    }
}

class promise_base {
public:
    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept
        {
            // Symmetric transfer: resuming the awaiter from here keeps long chains of
            // synchronously completing tasks from growing the stack.
            auto next = h.promise().m_continuation;
            return next ? next : std::noop_coroutine();
        }
        void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }

    void unhandled_exception() noexcept { m_exception = std::current_exception(); }

    const std::stop_token& stop_token() const noexcept { return m_stop; }
    void set_stop_token(std::stop_token t) noexcept { m_stop = std::move(t); }
    void set_continuation(std::coroutine_handle<> c) noexcept { m_continuation = c; }

protected:
    void rethrow_if_failed()
    {
        if (m_exception) {
            std::rethrow_exception(std::exchange(m_exception, nullptr));
        }
    }

private:
    std::coroutine_handle<> m_continuation;
    std::stop_token m_stop;
    std::exception_ptr m_exception;
};

template <class T>
class promise final : public promise_base {
public:
    task<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& v) { m_value.emplace(std::forward<U>(v)); }
    T take()
    {
        rethrow_if_failed();
        assert(m_value);
        return std::move(*m_value);
    }

private:
    std::optional<T> m_value;
};

template <>
class promise<void> final : public promise_base {
public:
    task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() { rethrow_if_failed(); }
};

} // namespace detail

template <class T>
class [[nodiscard]] task {
public:
    using promise_type = detail::promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;

    task() noexcept = default;
    explicit task(handle_type h) noexcept : m_handle(h) {}
    task(task&& o) noexcept : m_handle(std::exchange(o.m_handle, nullptr)) {}
    task& operator=(task&& o) noexcept
    {
        if (this != &o) {
            destroy();
            m_handle = std::exchange(o.m_handle, nullptr);
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    ~task() { destroy(); }

    bool valid() const noexcept { return m_handle != nullptr; }
    bool done() const noexcept { return m_handle && m_handle.done(); }

    struct awaiter {
        handle_type m_child;
        std::optional<std::stop_token> m_token;   // set: run under it, not the parent's

        bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept
        {
            m_child.promise().set_continuation(parent);
            m_child.promise().set_stop_token(m_token ? std::move(*m_token) : detail::stop_token_of(parent));
            return m_child;
        }
        T await_resume() { return m_child.promise().take(); }
    };

    /// Awaiting consumes the task: it runs once, its frame dies with the task object.
    awaiter operator co_await() && noexcept
    {
        assert(m_handle && !m_handle.done());
        return awaiter{m_handle, std::nullopt};
    }

    /// Awaits the task under `token` instead of the awaiting coroutine's: for work that must
    /// outlive a stop of its caller (a draining scheduler stops its sleeps, not its runs).
    awaiter under(std::stop_token token) && noexcept
    {
        assert(m_handle && !m_handle.done());
        return awaiter{m_handle, std::move(token)};
    }

    /// For runners (loop::run, scope): the raw handle, still owned by this task.
    handle_type handle() const noexcept { return m_handle; }

private:
    void destroy() noexcept
    {
        if (m_handle) {
            m_handle.destroy();
            m_handle = nullptr;
        }
    }

    handle_type m_handle;
};

namespace detail {
template <class T>
task<T> promise<T>::get_return_object() noexcept
{
    return task<T>{std::coroutine_handle<promise<T>>::from_promise(*this)};
}
inline task<void> promise<void>::get_return_object() noexcept
{
    return task<void>{std::coroutine_handle<promise<void>>::from_promise(*this)};
}
} // namespace detail

/// `co_await engine::current_stop_token()` gives the running task's stop token.
struct current_stop_token {
    std::stop_token m_token;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept
    {
        m_token = detail::stop_token_of(h);
        return false;
    }
    std::stop_token await_resume() noexcept { return std::move(m_token); }
};

} // namespace engine
