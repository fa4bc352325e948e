// The web server against hostile or broken clients: oversized and malformed requests get a 4xx and lose
// their connection without disturbing other clients; it listens on loopback unless told otherwise. The
// connection limits themselves (byte budget, deadlines, keep-alive, stop) are checked on LimitedHttpServer
// with small values, so the tests stay fast.
#include <doctest/doctest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "../../src/player/limited_http_server.hpp"
#include "fake_engine.hpp"
#include "fer/player/web_server.hpp"
#include "raw_http.hpp"
#include "temp_dir.hpp"

namespace {

using fer::player::HttpConnectionLimits;
using fer::player::LimitedHttpServer;
using fer::player::WebOptions;
using fer::player::WebServer;
using fer::player::testing::FakeEngine;
using fer::player::testing::RawConnection;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Server {
    fer::TempDir temp{"web_limits"};
    FakeEngine engine;
    WebServer server;

    explicit Server(WebOptions options)
        : engine(fer::player::testing::write_fake_library(temp.file("music"), 0.2), {"happy"}),
          server(engine, options) {
        server.start();
    }
};

WebOptions loopback_any_port(int threads = 4) {
    WebOptions options;
    options.port = 0;
    options.threads = threads;
    return options;
}

// A well-behaved client asking for the library and a track in a loop, to show that abuse on other
// connections does not disturb it.
class Bystander {
public:
    explicit Bystander(int port, std::string expected_audio)
        : expected_audio_(std::move(expected_audio)), thread_([this, port] { run(port); }) {}
    ~Bystander() { finish(); }

    void finish() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    int requests() const { return requests_; }
    int failures() const { return failures_; }
    double slowest_seconds() const { return slowest_; }

private:
    void run(int port) {
        httplib::Client client("127.0.0.1", port);
        client.set_read_timeout(10, 0);
        while (!stop_) {
            const auto start = Clock::now();
            const auto library = client.Get("/api/library");
            const auto audio = client.Get("/api/audio/1");
            slowest_ = std::max(slowest_, seconds_since(start));
            requests_ += 2;
            if (!library || library->status != 200) ++failures_;
            if (!audio || audio->status != 200 || audio->body != expected_audio_) ++failures_;
            std::this_thread::sleep_for(10ms);
        }
    }

    std::string expected_audio_;
    std::atomic<bool> stop_{false};
    int requests_ = 0, failures_ = 0;
    double slowest_ = 0;
    std::thread thread_;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("web server: oversized and malformed requests get 4xx and their connection closes; others are served") {
    Server s(loopback_any_port());
    const int port = s.server.port();
    Bystander bystander(port, read_file(s.engine.tracks()[1].path));

    struct Case {
        const char* what;
        std::string request;
        int status;  // 0: the connection may also just close without an answer
    };
    const std::string huge(16 << 20, 'x');  // more than the server reads of a request and the socket buffers hold
    const std::string many_headers = [] {
        std::string headers;
        for (int i = 0; i < 100000; ++i) headers += "X-H" + std::to_string(i) + ": v\r\n";
        return headers;
    }();
    const Case cases[] = {
        {"a huge body",
         "POST /api/state HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(huge.size()) + "\r\n\r\n" + huge,
         413},
        {"a huge chunked body",
         "POST /api/state HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string("100000\r\n") +
             huge.substr(0, 0x100000) + "\r\n0\r\n\r\n",
         400},
        {"a huge header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + huge + "\r\n\r\n", 400},
        {"a long header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + huge.substr(0, 20000) + "\r\n\r\n", 400},
        {"100000 headers", "GET / HTTP/1.1\r\nHost: x\r\n" + many_headers + "\r\n", 400},
        {"a long URI", "GET /" + huge.substr(0, 20000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
        {"a huge URI", "GET /" + huge + " HTTP/1.1\r\nHost: x\r\n\r\n", 0},
        {"a garbage request line", std::string("\x00\x01\x02garbage\r\n\r\n", 14), 400},
        {"an unknown method", "BREW /api/state HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"an unknown HTTP version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400},
        {"no request line at all", "\r\n\r\n", 400},
    };
    for (const Case& c : cases) {
        CAPTURE(std::string(c.what));
        RawConnection connection(port);
        REQUIRE(connection.connected());
        const auto start = Clock::now();
        const std::size_t sent = connection.send_all(c.request);
        const auto reply = connection.read_until_closed(5s);
        CHECK(reply.closed);                // not kept open for another request
        CHECK(seconds_since(start) < 4.0);  // and not after the 5 s keep-alive wait either
        if (c.request.size() > (8 << 20)) CHECK(sent < c.request.size());  // the server stopped reading
        if (c.status != 0 || !reply.bytes.empty()) CHECK(reply.status() == (c.status != 0 ? c.status : 414));
        if (!reply.bytes.empty()) CHECK(reply.bytes.find("\r\nConnection: close\r\n") != std::string::npos);
    }

    // A body shorter than its Content-Length: the server waits for the rest, then gives up.
    RawConnection short_body(port);
    short_body.send_all("POST /api/state HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"emotion_mode\"");

    bystander.finish();
    CHECK(bystander.requests() > 10);
    CHECK(bystander.failures() == 0);
    CHECK(bystander.slowest_seconds() < 3.0);
    httplib::Client client("127.0.0.1", port);
    const auto state = client.Get("/api/state");
    REQUIRE(state);
    CHECK(nlohmann::json::parse(state->body)["emotion_mode"] == false);  // no rejected request changed it
}

TEST_CASE("web server: bad JSON in a POST is a 400 that keeps the connection for the next request") {
    Server s(loopback_any_port());
    RawConnection connection(s.server.port());
    connection.send_all("POST /api/state HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{oops" +
                        std::string("GET /api/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    const auto reply = connection.read_until_closed(5s);
    CHECK(reply.status() == 400);
    CHECK(reply.bytes.find("the body must be a JSON object") != std::string::npos);
    CHECK(reply.bytes.find("\"emotion_mode\":false") != std::string::npos);  // the second request's answer
}

TEST_CASE("web server: it listens on 127.0.0.1 unless told otherwise") {
    CHECK(WebOptions{}.host == "127.0.0.1");
    Server loopback(loopback_any_port());
    CHECK(RawConnection(loopback.server.port(), "127.0.0.1").connected());
    // 127.0.0.2 is this machine too, but not the address the server is bound to.
    CHECK_FALSE(RawConnection(loopback.server.port(), "127.0.0.2").connected());

    WebOptions everywhere = loopback_any_port();
    everywhere.host = "0.0.0.0";
    Server exposed(everywhere);
    CHECK(RawConnection(exposed.server.port(), "127.0.0.2").connected());
}

namespace {

// LimitedHttpServer on a free port with one worker thread, so that any connection holding it would
// visibly delay the next.
struct SmallServer {
    LimitedHttpServer server;
    std::thread listener;
    int port = 0;

    explicit SmallServer(const HttpConnectionLimits& limits) : server(limits) {
        server.new_task_queue = [] { return new httplib::ThreadPool(1); };
        server.Get("/hello",
                   [](const httplib::Request&, httplib::Response& res) { res.set_content("hi", "text/plain"); });
        server.Get("/big", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(std::string(16 << 20, 'b'), "application/octet-stream");
        });
        port = server.bind_to_any_port("127.0.0.1");
        REQUIRE(port > 0);
        listener = std::thread([this] { server.listen_after_bind(); });
        while (!server.is_running()) std::this_thread::sleep_for(1ms);
    }
    ~SmallServer() { stop(); }
    void stop() {
        server.stop();
        if (listener.joinable()) listener.join();
    }

    // A fresh connection's GET /hello, and how long it took.
    double hello_seconds() {
        const auto start = Clock::now();
        RawConnection connection(port);
        connection.send_all("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        const auto reply = connection.read_until_closed(10s);
        CHECK(reply.status() == 200);
        CHECK(reply.body() == "hi");
        return seconds_since(start);
    }
};

HttpConnectionLimits small_limits() {
    HttpConnectionLimits limits;
    limits.max_request_bytes = 2048;
    limits.request_deadline = 400ms;
    limits.read_idle_timeout = 300ms;
    limits.write_timeout = 300ms;
    limits.keep_alive_timeout = 10s;  // long, so that a test finishing early shows it was not waited out
    limits.keep_alive_max_requests = 2;
    return limits;
}

}  // namespace

TEST_CASE("limited http server: keep-alive up to the maximum, pipelined requests, then the connection ends") {
    SmallServer s(small_limits());
    RawConnection connection(s.port);
    const std::string hello = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    connection.send_all(hello + hello + hello);
    const auto reply = connection.read_until_closed(5s);
    CHECK(reply.closed);
    std::size_t answers = 0;
    for (auto at = reply.bytes.find("HTTP/1.1 200"); at != std::string::npos;
         at = reply.bytes.find("HTTP/1.1 200", at + 1))
        ++answers;
    CHECK(answers == 2);
    CHECK(reply.bytes.find("Connection: close") != std::string::npos);
}

TEST_CASE("limited http server: a request over the byte budget gets 400 and is not read further") {
    SmallServer s(small_limits());
    RawConnection connection(s.port);
    const std::size_t sent =
        connection.send_all("GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(16 << 20, 'p') + "\r\n\r\n");
    const auto reply = connection.read_until_closed(5s);
    CHECK(sent < (16u << 20));
    CHECK(reply.closed);
    CHECK(reply.status() == 400);
    CHECK(s.hello_seconds() < 2.0);
}

TEST_CASE("limited http server: a client trickling its request is cut off at the request deadline") {
    SmallServer s(small_limits());
    RawConnection slow(s.port);
    const auto start = Clock::now();
    const std::string request =
        "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    bool cut_off = false;
    // One byte every 50 ms never trips the 300 ms idle timeout; only the 400 ms deadline stops it.
    for (char c : request) {
        if (slow.send_all(std::string(1, c), 200ms) == 0) {
            cut_off = true;
            break;
        }
        std::this_thread::sleep_for(50ms);
        if (seconds_since(start) > 3.0) break;
    }
    const auto reply = slow.read_until_closed(2s);
    CHECK((cut_off || reply.closed));
    CHECK(reply.bytes.find("200 OK") == std::string::npos);
    CHECK(seconds_since(start) < 3.0);
    CHECK(s.hello_seconds() < 1.0);  // the only worker thread is free again
}

TEST_CASE("limited http server: a client that does not read its response is dropped after the write timeout") {
    SmallServer s(small_limits());
    RawConnection stalled(s.port);
    stalled.send_all("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");  // 16 MiB answer, never read
    std::this_thread::sleep_for(100ms);
    // The single worker is stuck writing to the stalled client until the 300 ms write timeout.
    CHECK(s.hello_seconds() < 2.0);
}

TEST_CASE("limited http server: stop() does not wait for idle keep-alive connections") {
    SmallServer s(small_limits());
    RawConnection idle(s.port);
    idle.send_all("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    std::this_thread::sleep_for(100ms);  // answered; now idle for up to the 10 s keep-alive timeout
    const auto start = Clock::now();
    s.stop();
    CHECK(seconds_since(start) < 1.0);
    CHECK(idle.read_until_closed(2s).closed);
}
