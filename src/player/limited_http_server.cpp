#include "limited_http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "fer/text.hpp"

namespace fer::player {
namespace {

using Clock = std::chrono::steady_clock;

// How often a waiting connection looks whether the server is stopping, so stop() never waits for a
// client's timeout.
constexpr std::chrono::milliseconds stop_check_interval{50};
// When the server ends a connection the client may still be sending (the rest of an oversized request, a
// pipelined one); this much of it is read and dropped before the socket closes (see lingering_close).
constexpr std::chrono::milliseconds linger_time{500};
constexpr std::size_t linger_bytes = 1 << 20;

// Whether a response head (status line and headers) tells the client that the connection ends.
bool head_says_close(std::string_view head) {
    const std::string lower = to_lower(head.substr(0, head.find("\r\n\r\n")));
    return lower.find("\r\nconnection: close\r\n") != std::string::npos || lower.ends_with("\r\nconnection: close");
}

void address_of(const sockaddr_storage& address, std::string& ip, int& port) {
    char text[INET6_ADDRSTRLEN] = "";
    if (address.ss_family == AF_INET) {
        const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
        ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
        port = ntohs(v4.sin_port);
    } else if (address.ss_family == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
        ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
        port = ntohs(v6.sin6_port);
    }
    ip = text;
}

// One connection's socket as httplib's parser sees it. Reads are limited per request (bytes and time);
// writes give up after the write timeout; both give up when the server stops.
class LimitedSocketStream : public httplib::Stream {
public:
    LimitedSocketStream(socket_t sock, const HttpConnectionLimits& limits, const std::atomic<socket_t>& listener)
        : sock_(sock), limits_(limits), listener_(listener) {}

    // Waits for the first byte of the next request; false when the client closed, stayed idle past the
    // keep-alive timeout, or the server is stopping.
    bool wait_for_request() const {
        return buffered() > 0 || wait_for(POLLIN, Clock::now() + limits_.keep_alive_timeout);
    }

    void begin_request() {
        consumed_ = 0;
        request_deadline_ = Clock::now() + limits_.request_deadline;
        over_limit_ = false;
        awaiting_head_ = true;
        head_says_close_ = false;
    }

    // The connection must end after this request: it broke a limit, or the answer said "Connection:
    // close" (httplib does on the last request of a connection, the web server after malformed ones).
    bool must_close() const { return over_limit_ || head_says_close_; }

    bool is_readable() const override {
        return buffered() > 0 ||
               wait_for(POLLIN, std::min(Clock::now() + limits_.read_idle_timeout, request_deadline_));
    }

    bool is_writable() const override { return wait_for(POLLOUT, Clock::now() + limits_.write_timeout); }

    ssize_t read(char* ptr, size_t size) override {
        if (consumed_ >= limits_.max_request_bytes) {
            over_limit_ = true;
            return -1;
        }
        size = std::min(size, limits_.max_request_bytes - consumed_);
        while (buffered() == 0) {
            if (!is_readable()) {
                if (Clock::now() >= request_deadline_) over_limit_ = true;
                return -1;
            }
            const ssize_t got = ::recv(sock_, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
            if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
            if (got <= 0) return got;  // 0: the client closed its side
            buffer_begin_ = 0;
            buffer_end_ = static_cast<std::size_t>(got);
        }
        const std::size_t count = std::min(size, buffered());
        std::memcpy(ptr, buffer_.data() + buffer_begin_, count);
        buffer_begin_ += count;
        consumed_ += count;
        return static_cast<ssize_t>(count);
    }

    ssize_t write(const char* ptr, size_t size) override {
        // httplib writes each response head in one piece. A 1xx head (100 Continue) comes before the
        // real one.
        if (awaiting_head_ && size >= 12 && std::memcmp(ptr, "HTTP/1.", 7) == 0) {
            const std::string_view head(ptr, size);
            awaiting_head_ = head[9] == '1';
            head_says_close_ = head_says_close(head);
        }
        for (;;) {
            if (!is_writable()) return -1;
            // Never blocking in send: a stalled client must not hold the thread past the write timeout or
            // past stop(); a partial write is fine, httplib sends the rest.
            const ssize_t sent = ::send(sock_, ptr, size, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (sent < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
            return sent;
        }
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) address_of(address, ip, port);
    }

    void get_local_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) address_of(address, ip, port);
    }

    socket_t socket() const override { return sock_; }

private:
    std::size_t buffered() const { return buffer_end_ - buffer_begin_; }

    bool stopping() const { return listener_.load() == INVALID_SOCKET; }

    // Polls in short slices until the socket is ready, the deadline passes or the server stops.
    bool wait_for(short events, Clock::time_point deadline) const {
        for (;;) {
            if (stopping()) return false;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) return false;
            pollfd entry{sock_, events, 0};
            const int ready = ::poll(&entry, 1, static_cast<int>(std::min(left, stop_check_interval).count()));
            if (ready > 0) return true;  // also on an error or hang-up, which the next recv/send reports
            if (ready < 0 && errno != EINTR) return false;
        }
    }

    socket_t sock_;
    const HttpConnectionLimits& limits_;
    const std::atomic<socket_t>& listener_;
    std::array<char, 16 * 1024> buffer_{};
    std::size_t buffer_begin_ = 0, buffer_end_ = 0;
    std::size_t consumed_ = 0;  // bytes of the current request handed to the parser
    Clock::time_point request_deadline_ = Clock::time_point::max();
    bool over_limit_ = false;
    bool awaiting_head_ = true;
    bool head_says_close_ = false;
};

// Closing a socket with unread input sends a reset, which can destroy the last answer (often a 400 or
// 413) before the client reads it; so the answer is followed by a FIN, and what the client still sends is
// read briefly first. A client that reads the answer and closes ends this at once.
void lingering_close(socket_t sock) {
    ::shutdown(sock, SHUT_WR);
    std::array<char, 16 * 1024> sink;
    std::size_t drained = 0;
    const auto until = Clock::now() + linger_time;
    while (drained < linger_bytes) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        if (left.count() <= 0) break;
        pollfd entry{sock, POLLIN, 0};
        if (::poll(&entry, 1, static_cast<int>(left.count())) <= 0) break;
        const ssize_t got = ::recv(sock, sink.data(), sink.size(), MSG_DONTWAIT);
        if (got <= 0) break;
        drained += static_cast<std::size_t>(got);
    }
    ::close(sock);
}

}  // namespace

void LimitedHttpServer::apply_listen_backlog() {
    const socket_t listener = svr_sock_;
    if (listener != INVALID_SOCKET) ::listen(listener, limits_.listen_backlog);
}

bool LimitedHttpServer::process_and_close_socket(socket_t sock) {
    // httplib writes a response's head and body separately; with Nagle's algorithm the body would wait
    // for the client's delayed acknowledgement of the head (40 ms on Linux).
    int no_delay = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &no_delay, sizeof no_delay);
    LimitedSocketStream stream(sock, limits_, svr_sock_);
    bool answered = false, server_ends = false;
    for (std::size_t served = 0; served < limits_.keep_alive_max_requests; ++served) {
        if (!stream.wait_for_request()) break;
        stream.begin_request();
        const bool last = served + 1 == limits_.keep_alive_max_requests;
        bool client_closes = false;
        answered = process_request(stream, last, client_closes, nullptr);
        server_ends = stream.must_close();
        if (!answered || client_closes || server_ends) break;
    }
    if (server_ends) {
        lingering_close(sock);
    } else {
        // The client closed or went idle: nothing of it is left to read.
        ::shutdown(sock, SHUT_RDWR);
        ::close(sock);
    }
    return answered;
}

}  // namespace fer::player
