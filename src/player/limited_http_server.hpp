// An httplib::Server whose connections have the limits cpp-httplib 0.11 lacks. httplib reads a request
// line or header line whole before checking its length, has no bound on the number of headers or on a
// chunked body, and keeps a connection (and so one of its few threads) open after a malformed request.
// This server serves each connection itself through a socket stream that gives one request a byte budget
// and a deadline, and ends the connection after an answer that says the request was malformed or too big.
// Parsing, routing and responses stay httplib's (process_request).
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>

namespace fer::player {

struct HttpConnectionLimits {
    std::size_t max_request_bytes = 129 * 1024;           // request line, headers and body of one request
    std::chrono::milliseconds request_deadline{10'000};   // to send one whole request, from its first byte
    std::chrono::milliseconds read_idle_timeout{5'000};   // silence allowed while a request is being sent
    std::chrono::milliseconds write_timeout{30'000};      // a client that reads nothing for this long is dropped
    std::chrono::milliseconds keep_alive_timeout{5'000};  // an idle connection waits this long for the next request
    std::size_t keep_alive_max_requests = 5;              // then the connection ends and the client reconnects
    int listen_backlog = 128;  // connections the kernel queues before accept; httplib 0.11 asks for 5
};

class LimitedHttpServer : public httplib::Server {
public:
    explicit LimitedHttpServer(const HttpConnectionLimits& limits) : limits_(limits) {}

    // Call after bind_to_port / bind_to_any_port. With httplib's backlog of 5, a burst of new connections
    // overflows the queue and the dropped ones wait a second for the client to send its SYN again;
    // listen() on a listening socket only changes the backlog.
    void apply_listen_backlog();

private:
    // httplib calls this on a pool thread for every accepted connection; it owns and closes sock.
    bool process_and_close_socket(socket_t sock) override;

    HttpConnectionLimits limits_;
};

}  // namespace fer::player
