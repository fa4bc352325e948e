// Raw HTTP over a loopback socket, for the requests a well-behaved client library will not send: garbage,
// oversized heads and bodies, requests trickled a byte at a time, clients that never read.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace fer::player::testing {

class RawConnection {
public:
    explicit RawConnection(int port, const char* address = "127.0.0.1") : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        if (fd_ < 0) throw std::runtime_error("raw http: socket() failed");
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(static_cast<std::uint16_t>(port));
        ::inet_pton(AF_INET, address, &to.sin_addr);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
    }
    ~RawConnection() { ::close(fd_); }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    bool connected() const { return connected_; }

    // Sends all of data unless the server closes or stops reading for `stall`; returns the bytes sent.
    std::size_t send_all(const std::string& data, std::chrono::milliseconds stall = std::chrono::milliseconds(2000)) {
        std::size_t sent = 0;
        while (sent < data.size()) {
            pollfd entry{fd_, POLLOUT, 0};
            if (::poll(&entry, 1, static_cast<int>(stall.count())) <= 0) break;
            const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (n <= 0) break;
            sent += static_cast<std::size_t>(n);
        }
        return sent;
    }

    struct Reply {
        std::string bytes;    // everything received
        bool closed = false;  // the server closed (or reset) the connection before the time ran out
        int status() const { return bytes.size() >= 12 ? std::stoi(bytes.substr(9, 3)) : 0; }
        std::string body() const {
            const auto end = bytes.find("\r\n\r\n");
            return end == std::string::npos ? "" : bytes.substr(end + 4);
        }
    };

    // Reads until the server closes or `limit` passes.
    Reply read_until_closed(std::chrono::milliseconds limit) {
        Reply reply;
        const auto until = std::chrono::steady_clock::now() + limit;
        char buffer[16384];
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return reply;
            pollfd entry{fd_, POLLIN, 0};
            if (::poll(&entry, 1, static_cast<int>(left.count())) <= 0) return reply;
            const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) {
                reply.closed = true;
                return reply;
            }
            reply.bytes.append(buffer, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_;
    bool connected_ = false;
};

}  // namespace fer::player::testing
