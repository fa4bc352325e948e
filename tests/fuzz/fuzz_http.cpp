// Fuzz target: the player's HTTP handling, end to end. One WebServer (a FakeEngine that always decides
// 'happy', a four-track music library, the page served from a --web-root folder, one worker thread)
// listens on a loopback port for the whole run; each input is written as raw bytes to a new connection
// and what comes back is read, then a probe request checks that the server still answers. Documented
// outcome: a well-formed HTTP response that is not a 500, or a closed connection; the server answering
// the probe within seconds; never the contents of a file outside the library and the page (secret files
// sit beside them). select_byte_range is also checked directly on every Range line of the input.
// The server keeps its state (emotion mode, now playing, last decision) from one input to the next.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../player/fake_engine.hpp"
#include "../temp_dir.hpp"
#include "fer/player/http_range.hpp"
#include "fer/player/web_assets.hpp"
#include "fer/player/web_server.hpp"
#include "fer/text.hpp"
#include "fuzz_support.hpp"

namespace {

namespace fs = std::filesystem;
using fer::fuzz::report_finding;

// Contents that only the files the server must not serve contain.
constexpr std::string_view secret_text = "fer-fuzz: this file lies outside the music library and the page";
constexpr std::chrono::seconds answer_deadline{10};

void write_text(const fs::path& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary);
    out.write(text.data(), std::streamsize(text.size()));
    if (!out) throw std::runtime_error("fuzz_http: cannot write " + path.string());
}

// Owns the folder, the engine and the server, in the order they must be torn down.
class ServerUnderTest {
public:
    ServerUnderTest()
        : folder_("fuzz_http"),
          engine_(fer::player::testing::write_fake_library(folder_.file("music"), 0.05), {"happy"}) {
        const fs::path web_root = folder_.path / "web";
        fs::create_directories(web_root);
        for (const fer::player::WebAsset& asset : fer::player::embedded_web_assets())
            write_text(web_root / std::string(asset.name), asset.bytes);
        for (const fs::path& secret : {folder_.path / "secret.txt", web_root / "secret.txt",
                                       folder_.path / "music" / "secret.txt", folder_.path / "secret.html"})
            write_text(secret, secret_text);
        fer::player::WebOptions options;
        options.port = 0;
        options.threads = 1;  // see check_server_still_answers
        options.web_root = web_root.string();
        server_ = std::make_unique<fer::player::WebServer>(engine_, options);
        server_->start();
    }

    int port() const { return server_->port(); }

private:
    fer::TempDir folder_;
    fer::player::testing::FakeEngine engine_;
    std::unique_ptr<fer::player::WebServer> server_;
};

// One server for the whole run: starting one per input would measure thread start-up, not HTTP handling.
ServerUnderTest& server_under_test() {
    static ServerUnderTest server;
    return server;
}

// What came back on a connection, and whether the server closed it.
struct Answer {
    std::string bytes;
    bool closed = false;
};

class Connection {
public:
    explicit Connection(int port) : socket_(::socket(AF_INET, SOCK_STREAM, 0)) {
        if (socket_ < 0) report_finding(std::string("socket: ") + std::strerror(errno));
        // Reset on close: this side never lingers in TIME_WAIT, so a long run cannot run out of ports.
        const linger reset_on_close{1, 0};
        ::setsockopt(socket_, SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(std::uint16_t(port));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(socket_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
            report_finding("cannot connect to the server: " + std::string(std::strerror(errno)));
    }
    ~Connection() { ::close(socket_); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Sends everything, or what the server takes before it closes its side. The write side stays open:
    // httplib treats a half-closed connection as gone and would not answer at all.
    void send_all(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t sent = ::send(socket_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (sent < 0 && errno == EINTR) continue;
            if (sent <= 0) return;
            bytes.remove_prefix(std::size_t(sent));
        }
    }

    // Reads until the server closes the connection, or until it has been quiet for quiet_before_data
    // (nothing received yet) or quiet_after_data; never past the deadline.
    Answer receive(std::chrono::milliseconds quiet_before_data, std::chrono::milliseconds quiet_after_data,
                   std::chrono::steady_clock::time_point deadline) {
        Answer answer;
        char buffer[1 << 14];
        for (;;) {
            const auto now = std::chrono::steady_clock::now();
            const auto quiet = answer.bytes.empty() ? quiet_before_data : quiet_after_data;
            const auto wait = std::min(quiet, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
            if (wait.count() <= 0) return answer;
            pollfd readable{socket_, POLLIN, 0};
            const int ready = ::poll(&readable, 1, int(wait.count()));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) return answer;
            const ssize_t got = ::recv(socket_, buffer, sizeof buffer, 0);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {  // closed; a reset counts too, since the server may drop a bad request
                answer.closed = true;
                return answer;
            }
            answer.bytes.append(buffer, std::size_t(got));
        }
    }

private:
    int socket_;
};

std::string header_value(std::string_view headers, std::string_view name) {
    std::size_t start = 0;
    while (start < headers.size()) {
        std::size_t end = headers.find("\r\n", start);
        if (end == std::string_view::npos) end = headers.size();
        const std::string_view line = headers.substr(start, end - start);
        const std::size_t colon = line.find(':');
        if (colon != std::string_view::npos && fer::to_lower(line.substr(0, colon)) == fer::to_lower(name))
            return std::string(fer::trim(line.substr(colon + 1)));
        start = end + 2;
    }
    return {};
}

std::uint64_t parse_number(std::string_view text, const std::string& what) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty())
        report_finding(what + " is not a number: '" + std::string(text) + "'");
    return value;
}

// The first response's status line, header block and (for a 206) its Content-Range; the later ones of
// pipelined requests only by the secret check, since a HEAD response's length does not tell where they start.
void check_response(std::string_view request, const Answer& answer) {
    const std::string_view response = answer.bytes;
    if (response.empty()) return;
    for (std::string_view secret : {secret_text, std::string_view("root:x:0:0:")})
        if (response.find(secret) != std::string_view::npos && request.find(secret) == std::string_view::npos)
            report_finding("the server sent the contents of a file outside the music library and the page");
    const std::size_t header_end = response.find("\r\n\r\n");
    // The reader stops after a quiet spell; a slow server may still have been writing the first response.
    if (header_end == std::string_view::npos && !answer.closed) return;
    if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 13 || response[8] != ' ' || response[12] != ' ' ||
        header_end == std::string_view::npos)
        report_finding("malformed response: '" + std::string(response.substr(0, 80)) + "'");
    const std::uint64_t status = parse_number(response.substr(9, 3), "the status code");
    if (status < 100 || status > 599) report_finding("status " + std::to_string(status));
    if (status == 500) report_finding("500 (a handler failed): '" + std::string(response.substr(0, 400)) + "'");
    const std::string_view headers = response.substr(0, header_end);
    if (status == 206) {
        const std::string range = header_value(headers, "Content-Range");
        const std::size_t dash = range.find('-'), slash = range.find('/');
        if (range.rfind("bytes ", 0) != 0 || dash == std::string::npos || slash == std::string::npos || slash < dash)
            report_finding("206 with Content-Range '" + range + "'");
        const std::uint64_t first = parse_number(std::string_view(range).substr(6, dash - 6), "range start");
        const std::uint64_t last =
            parse_number(std::string_view(range).substr(dash + 1, slash - dash - 1), "range end");
        const std::uint64_t size = parse_number(std::string_view(range).substr(slash + 1), "range size");
        if (first > last || last >= size) report_finding("206 with Content-Range '" + range + "'");
        const std::string length = header_value(headers, "Content-Length");
        if (parse_number(length, "Content-Length") != last - first + 1)
            report_finding("206 for " + range + " with Content-Length " + length);
    }
}

void check_range_header(std::string_view value) {
    using Kind = fer::player::RangeSelection::Kind;
    for (std::uint64_t size :
         {std::uint64_t(0), std::uint64_t(1), std::uint64_t(1000), std::numeric_limits<std::uint64_t>::max()}) {
        const fer::player::RangeSelection selection = fer::player::select_byte_range(value, size);
        const fer::player::ByteRange& range = selection.range;
        const std::string where = "select_byte_range('" + std::string(value) + "', " + std::to_string(size) + ")";
        if (selection.kind == Kind::whole && size > 0 && (range.first != 0 || range.last != size - 1))
            report_finding(where + " chose the whole file as " + fer::player::content_range_value(range, size));
        if (selection.kind == Kind::partial && (size == 0 || range.first > range.last || range.last >= size))
            report_finding(where + " chose " + fer::player::content_range_value(range, size));
    }
}

// Each "Range:" line of the request (any case), and the whole input as if it were a header value.
void check_ranges_in(std::string_view request) {
    check_range_header(request);
    std::size_t start = 0;
    while (start < request.size()) {
        std::size_t end = request.find('\n', start);
        if (end == std::string_view::npos) end = request.size();
        const std::string_view line = request.substr(start, end - start);
        if (line.size() >= 6 && fer::to_lower(line.substr(0, 6)) == "range:") check_range_header(line.substr(6));
        start = end + 1;
    }
}

// After each input: a request that must be answered. The server has one worker thread, so its answer
// also proves that the input's connection has been dealt with completely, and a crash or a hang is
// charged to the input that caused it.
void check_server_still_answers(int port, std::string_view after_request) {
    Connection probe(port);
    probe.send_all("GET /api/state HTTP/1.1\r\nConnection: close\r\n\r\n");
    const auto deadline = std::chrono::steady_clock::now() + answer_deadline;
    const Answer answer = probe.receive(answer_deadline, answer_deadline, deadline);
    if (answer.bytes.rfind("HTTP/1.1 200 ", 0) != 0)
        report_finding("the server did not answer GET /api/state within " + std::to_string(answer_deadline.count()) +
                       " s after the request '" + std::string(after_request.substr(0, 200)) + "'; it answered '" +
                       answer.bytes.substr(0, 200) + "'");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string request = fer::fuzz::as_string(data, size);
    check_ranges_in(request);
    const int port = server_under_test().port();
    {
        Connection connection(port);
        connection.send_all(request);
        // Short quiet spells keep iterations fast; the probe below waits for the server to finish anyway.
        const Answer answer = connection.receive(std::chrono::milliseconds(50), std::chrono::milliseconds(10),
                                                 std::chrono::steady_clock::now() + answer_deadline);
        // For looking into a finding: FER_FUZZ_HTTP_ECHO=1 prints what the server answered.
        if (std::getenv("FER_FUZZ_HTTP_ECHO")) std::fprintf(stderr, "%s\n", answer.bytes.c_str());
        check_response(request, answer);
    }
    check_server_still_answers(port, request);
    return 0;
}
