#include "fer/player/web_server.hpp"

#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "fer/player/http_range.hpp"
#include "fer/player/web_assets.hpp"
#include "fer/text.hpp"
#include "limited_http_server.hpp"

namespace fer::player {

namespace {

// ordered_json keeps keys in insertion order, so probabilities come out in the model's class order.
using Json = nlohmann::ordered_json;
namespace fs = std::filesystem;

// The API's bodies are a few bytes of JSON; anything bigger is a mistake or an attack (413).
constexpr std::size_t max_request_body_bytes = 64 * 1024;
// A browser's request line and headers take a few KiB (httplib also refuses any one line over 8 KiB).
constexpr std::size_t max_request_head_bytes = 64 * 1024;
constexpr std::size_t audio_chunk_bytes = 64 * 1024;

HttpConnectionLimits connection_limits() {
    HttpConnectionLimits limits;
    // Chunk-size lines of a chunked body are the only framing beyond head and body.
    limits.max_request_bytes = max_request_head_bytes + max_request_body_bytes + 1024;
    limits.request_deadline = std::chrono::seconds(10);
    limits.read_idle_timeout = std::chrono::seconds(5);
    // A paused <audio> stops reading; after this the connection closes and the browser asks for a
    // range when it wants more, which is what ranges are for.
    limits.write_timeout = std::chrono::seconds(30);
    limits.keep_alive_timeout = std::chrono::seconds(5);
    limits.keep_alive_max_requests = 5;
    return limits;
}

std::string audio_content_type(const std::string& path) {
    const std::string extension = to_lower(fs::path(path).extension().string());
    if (extension == ".mp3") return "audio/mpeg";
    if (extension == ".ogg" || extension == ".oga") return "audio/ogg";
    if (extension == ".opus") return "audio/opus";
    if (extension == ".flac") return "audio/flac";
    if (extension == ".wav") return "audio/wav";
    if (extension == ".m4a" || extension == ".mp4" || extension == ".aac") return "audio/mp4";
    return "application/octet-stream";
}

std::string static_content_type(const std::string& name) {
    const std::string extension = to_lower(fs::path(name).extension().string());
    if (extension == ".html") return "text/html; charset=utf-8";
    if (extension == ".js") return "text/javascript; charset=utf-8";
    if (extension == ".css") return "text/css; charset=utf-8";
    if (extension == ".svg") return "image/svg+xml";
    if (extension == ".png") return "image/png";
    if (extension == ".ico") return "image/x-icon";
    return "application/octet-stream";
}

// Messages quote paths and fields from the request, which may be any bytes. nlohmann's default dump()
// throws on invalid UTF-8, and a throw from httplib's error handler ends the whole process (found by
// fuzzing, docs/reliability.md), so invalid bytes become U+FFFD instead.
std::string json_text(const Json& body) {
    return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void send_json(httplib::Response& res, const Json& body, int status = 200) {
    res.status = status;
    // The state changes with every detect; a cached answer would show an old emotion.
    res.set_header("Cache-Control", "no-store");
    res.set_content(json_text(body), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
    send_json(res, Json{{"error", message}}, status);
}

// Six decimals are plenty for a bar chart and keep 0.1f from printing as 0.10000000149011612.
double rounded_probability(double p) {
    return std::round(p * 1e6) / 1e6;
}

Json track_json(const Track& track) {
    return Json{{"id", track.id}, {"title", track.title}, {"artist", track.artist}, {"genre", track.genre}};
}

Json source_json(const SourceStatus& status) {
    if (status.available) return Json{{"available", true}};
    return Json{{"available", false},
                {"error", status.error},
                {"since", status.since},
                {"failed_attempts", status.failed_attempts},
                {"retry_seconds", std::round(status.retry_seconds * 10) / 10}};
}

Json decision_json(const Decision& decision, std::uint64_t sequence) {
    Json probabilities = Json::object();
    for (std::size_t c = 0; c < decision.classes.size() && c < decision.probabilities.size(); ++c)
        probabilities[decision.classes[c]] = rounded_probability(decision.probabilities[c]);
    Json body{{"time", decision.time},
              {"event", decision.event},
              {"emotion", decision.emotion.empty() ? Json(nullptr) : Json(decision.emotion)},
              {"confidence", rounded_probability(decision.confidence)},
              {"classes", decision.classes},
              {"probabilities", probabilities},
              {"faces", decision.faces},
              {"track", decision.track ? track_json(*decision.track) : Json(nullptr)},
              {"warnings", decision.warnings},
              {"source", decision.source.available ? Json(nullptr) : source_json(decision.source)}};
    // The sequence number makes each decision's crop a new URL, so the browser never shows a cached face.
    body["face"] = decision.face_png.empty() ? Json(nullptr) : Json("/api/face.png?t=" + std::to_string(sequence));
    return body;
}

std::optional<std::size_t> parse_track_id(const std::string& text) {
    std::size_t id = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return id;
}

// An open music file and the first byte of the range being sent; shared by the copies of the content
// provider that httplib makes.
struct AudioSlice {
    std::ifstream stream;
    std::uint64_t first = 0;
    std::vector<char> buffer = std::vector<char>(audio_chunk_bytes);
};

std::string read_small_file(const fs::path& path) {
    std::ifstream stream(path, std::ios::binary);
    if (!stream) throw std::runtime_error("web server: cannot read " + path.string());
    return std::string(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
}

}  // namespace

struct WebServer::Impl {
    Engine& engine;
    WebOptions options;
    LimitedHttpServer server{connection_limits()};
    // Every route's method and pattern, so that a known path asked with another method gets 405.
    std::vector<std::pair<std::string, std::regex>> routes;
    std::thread listener;
    std::atomic<bool> listener_finished{false};
    int bound_port = 0;

    std::mutex look_mutex;  // one detect at a time: the camera is one device
    std::atomic<bool> looking{false};

    std::mutex state_mutex;  // guards everything below
    bool emotion_mode = false;
    std::optional<std::size_t> now_playing;
    std::optional<Decision> last_decision;
    std::uint64_t decision_count = 0;

    Impl(Engine& engine_, WebOptions options_) : engine(engine_), options(std::move(options_)) {
        if (options.port < 0 || options.port > 65535)
            throw std::invalid_argument("web server: port " + std::to_string(options.port) + " is not in 0..65535");
        if (options.threads < 1)
            throw std::invalid_argument("web server: threads must be at least 1, got " +
                                        std::to_string(options.threads));
        if (!options.web_root.empty() && !fs::is_regular_file(fs::path(options.web_root) / "index.html"))
            throw std::invalid_argument("web server: --web-root " + options.web_root + " has no index.html");
        configure();
        install_routes();
    }

    void configure() {
        const std::size_t threads = static_cast<std::size_t>(options.threads);
        // httplib owns and deletes the queue it gets from this factory (its API takes a raw pointer).
        server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
        server.set_payload_max_length(max_request_body_bytes);
        // httplib's default sets SO_REUSEPORT, which would let a second server bind the same port and
        // share its connections silently; plain SO_REUSEADDR only allows rebinding after a restart.
        server.set_socket_options([](socket_t sock) {
            int yes = 1;
            ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
        });
        server.set_error_handler(
            httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
                // httplib's own answers to a malformed or oversized request: what the client sends next on
                // this connection cannot be trusted to be a request, so LimitedHttpServer ends it.
                if (res.body.empty() && (res.status == 400 || res.status == 413 || res.status == 414))
                    res.set_header("Connection", "close");
                // httplib would cut an error body by the request's Range; leave those (rare) errors bodiless.
                if (!res.body.empty() || !req.ranges.empty()) return httplib::Server::HandlerResponse::Unhandled;
                if (res.status == 404) {
                    const std::string allowed = allowed_methods(req.path);
                    if (!allowed.empty()) {
                        res.status = 405;
                        res.set_header("Allow", allowed);
                    }
                }
                std::string message;
                switch (res.status) {
                    case 400:
                        message = "bad request";
                        break;
                    case 404:
                        message = "not found: " + req.path;
                        break;
                    case 405:
                        message = req.method + " is not allowed on " + req.path +
                                  " (allowed: " + res.get_header_value("Allow") + ")";
                        break;
                    case 413:
                        message = "request body too large (limit " + std::to_string(max_request_body_bytes) + " bytes)";
                        break;
                    case 414:
                        message = "request URI too long";
                        break;
                    case 416:
                        message = "requested range not satisfiable";
                        break;
                    default:
                        message = "HTTP error " + std::to_string(res.status);
                        break;
                }
                if (req.path.rfind("/api/", 0) == 0) {
                    res.set_content(json_text(Json{{"error", message}}), "application/json");
                } else {
                    res.set_content(message + "\n", "text/plain; charset=utf-8");
                }
                return httplib::Server::HandlerResponse::Handled;
            }));
        server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
            std::string message = "unknown error";
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                message = e.what();
            } catch (...) {
            }
            send_error(res, 500, req.method + " " + req.path + ": " + message);
        });
    }

    // httplib 0.11 cuts every routed response by the request's Range itself, without clamping the end
    // or rejecting a start past the end (it would send garbage lengths). The audio route does ranges
    // correctly itself and the others answer in full, so the library's copy is dropped before each
    // handler. The Request is a non-const local inside httplib, so writing through const_cast is defined.
    static httplib::Server::Handler owning_ranges(httplib::Server::Handler handler) {
        return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
            const_cast<httplib::Request&>(req).ranges.clear();
            handler(req, res);
        };
    }

    // Registers the handler with httplib (GET also answers HEAD) and remembers the route for 405s.
    void route(const std::string& method, const std::string& pattern, httplib::Server::Handler handler) {
        if (method == "GET") {
            server.Get(pattern, owning_ranges(std::move(handler)));
        } else {
            server.Post(pattern, owning_ranges(std::move(handler)));
        }
        routes.emplace_back(method, std::regex(pattern));
    }

    // "GET, HEAD" or "POST" (or both) when some route has this path; empty when none has.
    std::string allowed_methods(const std::string& path) const {
        bool get = false, post = false;
        for (const auto& [method, pattern] : routes) {
            if (!std::regex_match(path, pattern)) continue;
            (method == "GET" ? get : post) = true;
        }
        std::string allowed = get ? "GET, HEAD" : "";
        if (post) allowed += allowed.empty() ? "POST" : ", POST";
        return allowed;
    }

    void install_routes() {
        route("GET", "/", [this](const httplib::Request&, httplib::Response& res) { serve_static("index.html", res); });
        // Flat names only: no slash or dot-dot can reach outside the web folder.
        route("GET", R"(/([A-Za-z0-9_-]+\.(?:html|js|css|svg|png|ico)))",
              [this](const httplib::Request& req, httplib::Response& res) { serve_static(req.matches[1].str(), res); });
        route("GET", "/api/library", [this](const httplib::Request&, httplib::Response& res) {
            Json tracks = Json::array();
            for (const Track& track : engine.tracks()) tracks.push_back(track_json(track));
            send_json(res, Json{{"tracks", tracks}});
        });
        route("POST", "/api/detect", [this](const httplib::Request&, httplib::Response& res) { detect(res); });
        route("GET", "/api/face.png", [this](const httplib::Request&, httplib::Response& res) {
            std::string png;
            {
                std::lock_guard lock(state_mutex);
                if (last_decision) png.assign(last_decision->face_png.begin(), last_decision->face_png.end());
            }
            if (png.empty()) return send_error(res, 404, "no face crop yet: POST /api/detect first");
            res.set_header("Cache-Control", "no-store");
            res.set_content(png, "image/png");
        });
        route("GET", "/api/state",
              [this](const httplib::Request&, httplib::Response& res) { send_json(res, state_json()); });
        route("POST", "/api/state",
              [this](const httplib::Request& req, httplib::Response& res) { update_state(req.body, res); });
        route("GET", R"(/api/audio/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
            serve_audio(req.matches[1].str(), req.get_header_value("Range"), res);
        });
    }

    void serve_static(const std::string& name, httplib::Response& res) {
        if (!options.web_root.empty()) {
            // Read per request, so an edit to web/ shows on reload while developing with --web-root.
            const fs::path path = fs::path(options.web_root) / name;
            if (!fs::is_regular_file(path)) return send_error(res, 404, "not found: /" + name);
            res.set_content(read_small_file(path), static_content_type(name));
            return;
        }
        for (const WebAsset& asset : embedded_web_assets()) {
            if (asset.name == name) {
                res.set_content(asset.bytes.data(), asset.bytes.size(), static_content_type(name).c_str());
                return;
            }
        }
        send_error(res, 404, "not found: /" + name);
    }

    Json state_json() {
        // Asked before the lock: the engine's status has its own, and a look never holds it.
        const SourceStatus source = engine.source_status();
        std::lock_guard lock(state_mutex);
        return Json{{"emotion_mode", emotion_mode},
                    {"looking", looking.load()},
                    {"last_decision", last_decision ? decision_json(*last_decision, decision_count) : Json(nullptr)},
                    {"now_playing", now_playing ? Json(*now_playing) : Json(nullptr)},
                    {"source", source_json(source)}};
    }

    void detect(httplib::Response& res) {
        std::unique_lock look_lock(look_mutex, std::try_to_lock);
        // A second click while the camera is busy gets an answer at once instead of a queue of looks.
        if (!look_lock.owns_lock()) return send_error(res, 409, "a detection is already running; wait for it");
        struct LookingFlag {
            std::atomic<bool>& flag;
            explicit LookingFlag(std::atomic<bool>& f) : flag(f) { flag = true; }
            ~LookingFlag() { flag = false; }
        };
        Decision decision;
        {
            LookingFlag looking_now(looking);
            try {
                decision = engine.look();
            } catch (const std::exception& e) {
                return send_error(res, 500, std::string("detect failed: ") + e.what());
            }
        }
        Json body;
        {
            std::lock_guard lock(state_mutex);
            ++decision_count;
            if (decision.track) now_playing = decision.track->id;
            body = decision_json(decision, decision_count);
            last_decision = std::move(decision);
        }
        send_json(res, body);
    }

    void update_state(const std::string& text, httplib::Response& res) {
        const Json body = Json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded() || !body.is_object())
            return send_error(res, 400,
                              R"(POST /api/state: the body must be a JSON object such as {"emotion_mode": true})");
        std::optional<bool> new_emotion_mode;
        std::optional<std::optional<std::size_t>> new_now_playing;
        for (const auto& [key, value] : body.items()) {
            if (key == "emotion_mode") {
                if (!value.is_boolean())
                    return send_error(res, 400, "POST /api/state: emotion_mode must be true or false");
                new_emotion_mode = value.get<bool>();
            } else if (key == "now_playing") {
                if (value.is_null()) {
                    new_now_playing = std::optional<std::size_t>();
                } else if (value.is_number_unsigned() && value.get<std::uint64_t>() < engine.tracks().size()) {
                    new_now_playing = static_cast<std::size_t>(value.get<std::uint64_t>());
                } else {
                    return send_error(res, 400,
                                      "POST /api/state: now_playing must be null or a track id below " +
                                          std::to_string(engine.tracks().size()));
                }
            } else {
                return send_error(
                    res, 400,
                    "POST /api/state: unknown field '" + key + "' (expected emotion_mode and/or now_playing)");
            }
        }
        {
            std::lock_guard lock(state_mutex);
            if (new_emotion_mode) emotion_mode = *new_emotion_mode;
            if (new_now_playing) now_playing = *new_now_playing;
        }
        send_json(res, state_json());
    }

    void serve_audio(const std::string& id_text, const std::string& range_header, httplib::Response& res) {
        const auto& tracks = engine.tracks();
        const auto id = parse_track_id(id_text);
        // Only ids of the scanned library resolve to files; the path is never built from the request.
        if (!id || *id >= tracks.size()) return send_error(res, 404, "no track with id '" + id_text + "'");
        const Track& track = tracks[*id];
        std::error_code error;
        const std::uint64_t size = fs::is_regular_file(track.path, error) ? fs::file_size(track.path, error) : 0;
        if (error || !fs::is_regular_file(track.path))
            return send_error(res, 404, "track " + std::to_string(*id) + "'s file is missing");
        const std::string content_type = audio_content_type(track.path);
        res.set_header("Accept-Ranges", "bytes");
        const RangeSelection selection = select_byte_range(range_header, size);
        if (selection.kind == RangeSelection::Kind::unsatisfiable) {
            res.status = 416;
            res.set_header("Content-Range", unsatisfied_content_range_value(size));
            return;
        }
        if (size == 0) {
            res.status = 200;
            res.set_content("", content_type);
            return;
        }
        auto slice = std::make_shared<AudioSlice>();
        slice->stream.open(track.path, std::ios::binary);
        if (!slice->stream) return send_error(res, 500, "cannot open track " + std::to_string(*id) + "'s file");
        slice->first = selection.range.first;
        if (selection.kind == RangeSelection::Kind::partial) {
            res.status = 206;
            res.set_header("Content-Range", content_range_value(selection.range, size));
        } else {
            res.status = 200;
        }
        // Streams the file in chunks; httplib's offsets count from the start of the range.
        res.set_content_provider(static_cast<std::size_t>(selection.range.length()), content_type.c_str(),
                                 [slice](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                     const std::size_t chunk = std::min(length, slice->buffer.size());
                                     slice->stream.seekg(static_cast<std::streamoff>(slice->first + offset));
                                     slice->stream.read(slice->buffer.data(), static_cast<std::streamsize>(chunk));
                                     const auto got = slice->stream.gcount();
                                     // A file that shrank under us ends the response early rather than sending made-up
                                     // bytes.
                                     if (got <= 0) return false;
                                     return sink.write(slice->buffer.data(), static_cast<std::size_t>(got));
                                 });
    }
};

WebServer::WebServer(Engine& engine, WebOptions options) : impl_(std::make_unique<Impl>(engine, std::move(options))) {}

WebServer::~WebServer() {
    stop();
}

void WebServer::start() {
    if (impl_->listener.joinable()) throw std::logic_error("web server: start() called twice");
    const std::string& host = impl_->options.host;
    int port = impl_->options.port;
    if (port == 0) {
        port = impl_->server.bind_to_any_port(host);
        if (port <= 0)
            throw std::runtime_error("web server: cannot listen on " + host +
                                     " (no free port, or not an address of this machine)");
    } else if (!impl_->server.bind_to_port(host, port)) {
        throw std::runtime_error("web server: port " + std::to_string(port) + " on " + host +
                                 " is in use (or not an address of this machine); choose another with --port");
    }
    impl_->bound_port = port;
    impl_->server.apply_listen_backlog();
    impl_->listener = std::thread([this] {
        impl_->server.listen_after_bind();
        impl_->listener_finished = true;
    });
    // stop() before the loop has started would be lost (httplib only stops a running server), so wait
    // until it runs; the socket already listens, so no connection is refused meanwhile.
    while (!impl_->server.is_running() && !impl_->listener_finished)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

int WebServer::port() const {
    return impl_->bound_port;
}

void WebServer::stop() {
    if (!impl_ || !impl_->listener.joinable()) return;
    impl_->server.stop();
    impl_->listener.join();
}

void run_web_server(Engine& engine, const WebOptions& options) {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    // Blocked before the server's threads exist, so they inherit the mask and only sigwait sees them.
    sigset_t previous_mask;
    if (pthread_sigmask(SIG_BLOCK, &stop_signals, &previous_mask) != 0)
        throw std::runtime_error("web server: cannot block SIGINT/SIGTERM");
    struct MaskRestorer {
        sigset_t mask;
        ~MaskRestorer() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
    } restore_mask{previous_mask};
    WebServer server(engine, options);
    server.start();
    std::cout << "fer-play: serving on http://" << options.host << ":" << server.port() << "/  (Ctrl-C stops)"
              << std::endl;
    int received = 0;
    sigwait(&stop_signals, &received);
    std::cout << "fer-play: stopping" << std::endl;
    server.stop();
}

}  // namespace fer::player
