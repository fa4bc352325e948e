// The web server's API, audio ranges and static files, against a FakeEngine on a free port.
#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "fake_engine.hpp"
#include "fer/player/http_range.hpp"
#include "fer/player/web_server.hpp"
#include "raw_http.hpp"
#include "../temp_dir.hpp"

namespace {

using fer::player::RangeSelection;
using fer::player::WebOptions;
using fer::player::WebServer;
using fer::player::testing::FakeEngine;
using fer::player::testing::RawConnection;
using nlohmann::json;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

WebOptions any_port() {
    WebOptions options;
    options.port = 0;
    options.threads = 4;
    return options;
}

// A server on a free port with four 0.2 s WAV tracks and a scripted engine.
struct Fixture {
    fer::TempDir temp{"web_server"};
    FakeEngine engine;
    WebServer server;
    httplib::Client client;

    explicit Fixture(std::vector<std::string> script = {"happy", "no_face", "disgust"},
                     std::chrono::milliseconds look_delay = std::chrono::milliseconds(0),
                     WebOptions options = any_port())
        : engine(fer::player::testing::write_fake_library(temp.file("music"), 0.2), std::move(script), look_delay),
          server(engine, std::move(options)),
          client(start_and_address(server)) {
        client.set_read_timeout(10, 0);
        // Send paths exactly as written, so the traversal tests reach the server unaltered.
        client.set_url_encode(false);
    }

    static std::string start_and_address(WebServer& server) {
        server.start();
        return "http://127.0.0.1:" + std::to_string(server.port());
    }

    json get_json(const std::string& path) {
        auto res = client.Get(path);
        REQUIRE(res);
        REQUIRE(res->status == 200);
        CHECK(res->get_header_value("Content-Type") == "application/json");
        return json::parse(res->body);
    }

    httplib::Result post(const std::string& path, const std::string& body) {
        return client.Post(path, body, "application/json");
    }

    std::string track_bytes(std::size_t id) { return read_file(engine.tracks().at(id).path); }
};

}  // namespace

TEST_CASE("select_byte_range follows RFC 9110 for one range") {
    using Kind = RangeSelection::Kind;
    auto check = [](const char* header, std::uint64_t size, Kind kind, std::uint64_t first = 0,
                    std::uint64_t last = 0) {
        CAPTURE(header);
        const RangeSelection s = fer::player::select_byte_range(header, size);
        CHECK(s.kind == kind);
        if (kind != Kind::unsatisfiable) {
            CHECK(s.range.first == first);
            CHECK(s.range.last == last);
        }
    };
    check("", 100, Kind::whole, 0, 99);
    check("bytes=0-9", 100, Kind::partial, 0, 9);
    check("bytes=10-", 100, Kind::partial, 10, 99);
    check("bytes=-10", 100, Kind::partial, 90, 99);
    check("bytes=-500", 100, Kind::partial, 0, 99);      // a suffix longer than the file is the whole file
    check("bytes=95-1000", 100, Kind::partial, 95, 99);  // the last position is clamped
    check("BYTES = 5 - 5", 100, Kind::partial, 5, 5);
    check("bytes=99-99", 100, Kind::partial, 99, 99);
    check("bytes=100-", 100, Kind::unsatisfiable);
    check("bytes=100-200", 100, Kind::unsatisfiable);
    check("bytes=-0", 100, Kind::unsatisfiable);
    check("bytes=5-3", 100, Kind::unsatisfiable);
    check("bytes=x-3", 100, Kind::unsatisfiable);
    check("bytes=-", 100, Kind::unsatisfiable);
    check("bytes=99999999999999999999999-", 100, Kind::unsatisfiable);  // overflow is not a position
    check("bytes=0-", 0, Kind::unsatisfiable);
    check("bytes=0-1,5-6", 100, Kind::whole, 0, 99);  // several ranges: answered with the whole file
    check("items=0-5", 100, Kind::whole, 0, 99);      // another unit is ignored
    CHECK(fer::player::content_range_value({10, 19}, 100) == "bytes 10-19/100");
    CHECK(fer::player::unsatisfied_content_range_value(100) == "bytes */100");
}

TEST_CASE("web server: library lists the tracks without their paths") {
    Fixture f;
    const json library = f.get_json("/api/library");
    REQUIRE(library["tracks"].size() == 4);
    for (std::size_t i = 0; i < 4; ++i) {
        const json& track = library["tracks"][i];
        CHECK(track["id"] == i);
        CHECK(track["title"] == f.engine.tracks()[i].title);
        CHECK(track["artist"] == f.engine.tracks()[i].artist);
        CHECK(track["genre"] == f.engine.tracks()[i].genre);
        CHECK_FALSE(track.contains("path"));
    }
    CHECK(library.dump().find(f.temp.path.string()) == std::string::npos);
}

TEST_CASE("web server: detect returns the decision, and state and face.png follow it") {
    Fixture f;
    auto face = f.client.Get("/api/face.png");
    REQUIRE(face);
    CHECK(face->status == 404);
    CHECK(f.get_json("/api/state")["last_decision"].is_null());

    auto res = f.post("/api/detect", "");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    const json decision = json::parse(res->body);
    CHECK(decision["event"] == "decision");
    CHECK(decision["emotion"] == "happy");
    CHECK(decision["confidence"].get<double>() == doctest::Approx(0.64));
    CHECK(decision["faces"] == 5);
    CHECK(decision["time"].get<std::string>().size() == 20);
    REQUIRE(decision["probabilities"].size() == 7);
    CHECK(decision["probabilities"]["happy"].get<double>() == doctest::Approx(0.64));
    CHECK(decision["probabilities"]["angry"].get<double>() == doctest::Approx(0.06));
    CHECK(decision["probabilities"].begin().key() == "angry");  // the model's class order
    CHECK(decision["track"] ==
          json{{"id", 0}, {"title", "Sunny Morning"}, {"artist", "The Test Tones"}, {"genre", "happy"}});
    CHECK(decision["warnings"].empty());
    REQUIRE(decision["face"].is_string());
    CHECK(decision["face"].get<std::string>().rfind("/api/face.png?t=", 0) == 0);

    face = f.client.Get(decision["face"].get<std::string>());
    REQUIRE(face);
    CHECK(face->status == 200);
    CHECK(face->get_header_value("Content-Type") == "image/png");
    CHECK(face->body.substr(0, 4) == "\x89PNG");

    const json state = f.get_json("/api/state");
    CHECK(state["last_decision"]["emotion"] == "happy");
    CHECK(state["now_playing"] == 0);
    CHECK(state["looking"] == false);

    SUBCASE("no_face has no emotion and no face crop, says why, and keeps the track") {
        const json no_face = json::parse(f.post("/api/detect", "")->body);
        CHECK(no_face["event"] == "no_face");
        CHECK(no_face["emotion"].is_null());
        CHECK(no_face["face"].is_null());
        CHECK(no_face["faces"] == 0);
        CHECK(no_face["track"]["id"] == 0);  // the mood continues
        REQUIRE(no_face["warnings"].size() == 1);
        CHECK(no_face["warnings"][0] == "no face seen before the timeout");
        CHECK(f.client.Get("/api/face.png")->status == 404);  // the last decision had no crop

        const json disgust = json::parse(f.post("/api/detect", "")->body);
        CHECK(disgust["emotion"] == "disgust");
        CHECK(disgust["track"]["id"] == 2);  // no disgust track: look number 2 mod 4
        REQUIRE(disgust["warnings"].size() == 1);
        CHECK(disgust["warnings"][0].get<std::string>().find("no track for 'disgust'") != std::string::npos);
        CHECK(f.get_json("/api/state")["now_playing"] == 2);
    }
}

TEST_CASE("web server: a lost camera is a source_unavailable decision, and the state says so until it is back") {
    Fixture f({"happy", "source_lost", "source_lost", "sad"});
    CHECK(f.get_json("/api/state")["source"] == json{{"available", true}});
    CHECK(json::parse(f.post("/api/detect", "")->body)["emotion"] == "happy");

    auto res = f.post("/api/detect", "");
    REQUIRE(res);
    CHECK(res->status == 200);
    const json lost = json::parse(res->body);
    CHECK(lost["event"] == "source_unavailable");
    CHECK(lost["emotion"].is_null());
    CHECK(lost["face"].is_null());
    CHECK(lost["source"]["available"] == false);
    CHECK(lost["source"]["error"] == "camera 0: no frames after 3 reopen attempts");
    CHECK(lost["source"]["failed_attempts"] == 1);
    CHECK(lost["source"]["retry_seconds"] == 1.0);
    CHECK(lost["track"]["id"] == 0);  // the music goes on in the mood
    json state = f.get_json("/api/state");
    CHECK(state["source"]["available"] == false);
    CHECK(state["source"]["since"] == lost["source"]["since"]);
    CHECK(state["last_decision"]["event"] == "source_unavailable");

    CHECK(json::parse(f.post("/api/detect", "")->body)["source"]["failed_attempts"] == 2);
    const json back = json::parse(f.post("/api/detect", "")->body);
    CHECK(back["event"] == "decision");
    CHECK(back["source"].is_null());
    CHECK(f.get_json("/api/state")["source"] == json{{"available", true}});
}

TEST_CASE("web server: a second detect while one is looking gets 409") {
    Fixture f({"sad"}, std::chrono::milliseconds(400));
    auto first = std::async(std::launch::async, [&] {
        httplib::Client other("127.0.0.1", f.server.port());
        other.set_read_timeout(10, 0);
        auto res = other.Post("/api/detect", "", "application/json");
        return res ? res->status : -1;
    });
    // Wait until the first one is inside look(), then ask again.
    for (int i = 0; i < 200 && !f.get_json("/api/state")["looking"].get<bool>(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto second = f.post("/api/detect", "");
    REQUIRE(second);
    CHECK(second->status == 409);
    CHECK(json::parse(second->body)["error"].get<std::string>().find("already running") != std::string::npos);
    CHECK(first.get() == 200);
    CHECK(f.engine.looks() == 1);
    CHECK(f.get_json("/api/state")["looking"] == false);
}

TEST_CASE("web server: state updates, and 400 on bad JSON or types") {
    Fixture f;
    json state = f.get_json("/api/state");
    CHECK(state["emotion_mode"] == false);
    CHECK(state["now_playing"].is_null());

    auto res = f.post("/api/state", R"({"emotion_mode": true})");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(json::parse(res->body)["emotion_mode"] == true);
    res = f.post("/api/state", R"({"now_playing": 3})");
    CHECK(res->status == 200);
    state = f.get_json("/api/state");
    CHECK(state["emotion_mode"] == true);
    CHECK(state["now_playing"] == 3);
    CHECK(f.post("/api/state", R"({"now_playing": null, "emotion_mode": false})")->status == 200);
    state = f.get_json("/api/state");
    CHECK(state["now_playing"].is_null());
    CHECK(state["emotion_mode"] == false);

    for (const char* bad :
         {"{", "", "[]", "true", R"({"emotion_mode": "yes"})", R"({"emotion_mode": 1})", R"({"now_playing": 4})",
          R"({"now_playing": -1})", R"({"now_playing": 1.5})", R"({"now_playing": "1"})", R"({"volume": 3})",
          R"({"emotion_mode": true, "now_playing": 99})"}) {
        CAPTURE(bad);
        res = f.post("/api/state", bad);
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(json::parse(res->body)["error"].get<std::string>().find("/api/state") != std::string::npos);
    }
    // A rejected update changes nothing, not even its valid half.
    CHECK(f.get_json("/api/state")["emotion_mode"] == false);

    res = f.post("/api/state", std::string(200 * 1024, ' '));
    REQUIRE(res);
    CHECK(res->status == 413);
}

TEST_CASE("web server: audio is served whole and by byte ranges") {
    Fixture f;
    const std::string bytes = f.track_bytes(1);
    const std::size_t size = bytes.size();
    REQUIRE(size == 44 + 1600 * 2);
    const std::string total = "/" + std::to_string(size);

    auto res = f.client.Get("/api/audio/1");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == bytes);
    CHECK(res->get_header_value("Content-Type") == "audio/wav");
    CHECK(res->get_header_value("Accept-Ranges") == "bytes");
    CHECK(res->get_header_value("Content-Length") == std::to_string(size));

    struct Case {
        std::string range;
        std::size_t first, last;
    };
    for (const Case& c : {Case{"bytes=0-0", 0, 0}, Case{"bytes=10-19", 10, 19}, Case{"bytes=100-", 100, size - 1},
                          Case{"bytes=-16", size - 16, size - 1}, Case{"bytes=3000-999999", 3000, size - 1},
                          Case{"bytes=-999999", 0, size - 1}}) {
        CAPTURE(c.range);
        res = f.client.Get("/api/audio/1", {{"Range", c.range}});
        REQUIRE(res);
        CHECK(res->status == 206);
        CHECK(res->body == bytes.substr(c.first, c.last - c.first + 1));
        CHECK(res->get_header_value("Content-Range") ==
              "bytes " + std::to_string(c.first) + "-" + std::to_string(c.last) + total);
        CHECK(res->get_header_value("Content-Length") == std::to_string(c.last - c.first + 1));
        CHECK(res->get_header_value("Content-Type") == "audio/wav");
    }

    for (const std::string& range : {"bytes=" + std::to_string(size) + "-", std::string("bytes=5000-6000"),
                                     std::string("bytes=-0"), std::string("bytes=9-3")}) {
        CAPTURE(range);
        res = f.client.Get("/api/audio/1", {{"Range", range}});
        REQUIRE(res);
        CHECK(res->status == 416);
        CHECK(res->body.find("RIFF") == std::string::npos);
        if (range != "bytes=9-3") CHECK(res->get_header_value("Content-Range") == "bytes *" + total);
    }

    // Several ranges are answered with the whole file, which the RFC allows.
    res = f.client.Get("/api/audio/1", {{"Range", "bytes=0-1, 4-5"}});
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == bytes);
}

TEST_CASE("web server: 404 for unknown ids and anything outside the library and web folder") {
    Fixture f;
    for (const char* path : {"/api/audio/4",
                             "/api/audio/99999999999999999999999",
                             "/api/audio/abc",
                             "/api/audio/-1",
                             "/api/audio/1.0",
                             "/api/audio/",
                             "/api/audio/0x1",
                             "/api/audio/../../etc/passwd",
                             "/api/audio/..%2f..%2fetc%2fpasswd",
                             "/api/audio/%2e%2e/%2e%2e/etc/passwd",
                             "/../../etc/passwd",
                             "/%2e%2e/%2e%2e/etc/passwd",
                             "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                             "/..%2f..%2fetc%2fpasswd",
                             "/etc/passwd",
                             "/web/index.html",
                             "/index.html/..",
                             "/.%2e/.%2e/etc/passwd",
                             "/nothing.js",
                             "/api/nothing",
                             "/CMakeLists.txt"}) {
        CAPTURE(path);
        auto res = f.client.Get(path);
        REQUIRE(res);
        CHECK(res->status == 404);
        CHECK(res->body.find("root:") == std::string::npos);
        CHECK(res->body.find("RIFF") == std::string::npos);
    }
    auto res = f.client.Get("/api/audio/abc");
    CHECK(json::parse(res->body)["error"] == "no track with id 'abc'");
    res = f.client.Get("/api/nothing");
    CHECK(res->get_header_value("Content-Type") == "application/json");
}

TEST_CASE("web server: a known path asked with the wrong method gets 405 and the allowed methods") {
    Fixture f;
    struct Case {
        const char* method;
        const char* path;
        const char* allowed;
    };
    for (const Case& c : {Case{"POST", "/api/library", "GET, HEAD"}, Case{"GET", "/api/detect", "POST"},
                          Case{"DELETE", "/api/state", "GET, HEAD, POST"}, Case{"PUT", "/api/audio/0", "GET, HEAD"},
                          Case{"PATCH", "/", "GET, HEAD"}, Case{"OPTIONS", "/app.js", "GET, HEAD"}}) {
        CAPTURE(std::string(c.method) + " " + c.path);
        RawConnection connection(f.server.port());
        connection.send_all(std::string(c.method) + " " + c.path +
                            " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        const auto reply = connection.read_until_closed(std::chrono::seconds(5));
        CHECK(reply.status() == 405);
        CHECK(reply.bytes.find(std::string("\r\nAllow: ") + c.allowed + "\r\n") != std::string::npos);
    }
    const auto res = f.client.Post("/api/library", "", "application/json");
    REQUIRE(res);
    CHECK(json::parse(res->body)["error"] == "POST is not allowed on /api/library (allowed: GET, HEAD)");
    // An unknown path stays 404 whatever the method.
    CHECK(f.client.Post("/api/nothing", "", "application/json")->status == 404);
}

TEST_CASE("web server: a missing track file is a 404, not a crash") {
    Fixture f;
    std::filesystem::remove(f.engine.tracks()[2].path);
    auto res = f.client.Get("/api/audio/2");
    REQUIRE(res);
    CHECK(res->status == 404);
    CHECK(f.client.Get("/api/audio/1")->status == 200);
}

TEST_CASE("web server: the page and its files are served with their content types") {
    Fixture f;
    auto res = f.client.Get("/");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->get_header_value("Content-Type") == "text/html; charset=utf-8");
    CHECK(res->body.find("<!doctype html>") != std::string::npos);
    CHECK(res->body.find("emotion-switch") != std::string::npos);
    res = f.client.Get("/index.html");
    CHECK(res->status == 200);
    res = f.client.Get("/app.js");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->get_header_value("Content-Type") == "text/javascript; charset=utf-8");
    CHECK(res->body.find("/api/detect") != std::string::npos);
    res = f.client.Get("/style.css");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->get_header_value("Content-Type") == "text/css; charset=utf-8");
    // A Range on a page file is ignored, not misapplied.
    res = f.client.Get("/style.css", {{"Range", "bytes=0-3"}});
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body.size() > 4);
}

TEST_CASE("web server: --web-root serves a folder instead of the embedded page") {
    fer::TempDir web{"web_root"};
    {
        std::ofstream(web.file("index.html")) << "<!doctype html><p>custom page</p>";
        std::ofstream(web.file("extra.css")) << "p { color: red }";
    }
    WebOptions options = any_port();
    options.web_root = web.path.string();
    Fixture f({"happy"}, std::chrono::milliseconds(0), options);
    auto res = f.client.Get("/");
    REQUIRE(res);
    CHECK(res->body == "<!doctype html><p>custom page</p>");
    CHECK(f.client.Get("/extra.css")->body == "p { color: red }");
    CHECK(f.client.Get("/app.js")->status == 404);

    options.web_root = web.file("missing");
    CHECK_THROWS_AS(WebServer(f.engine, options), std::invalid_argument);
}

TEST_CASE("web server: a second server on the same port fails with a clear message") {
    Fixture f;
    WebOptions options;
    options.port = f.server.port();
    WebServer second(f.engine, options);
    std::string message;
    try {
        second.start();
    } catch (const std::runtime_error& e) {
        message = e.what();
    }
    CHECK(message.find("port " + std::to_string(f.server.port()) + " on 127.0.0.1 is in use") != std::string::npos);
    CHECK(message.find("--port") != std::string::npos);
    // The first one still answers.
    CHECK(f.client.Get("/api/library")->status == 200);

    options.port = 70000;
    CHECK_THROWS_AS(WebServer(f.engine, options), std::invalid_argument);
}

TEST_CASE("web server: an engine that throws gives 500 with its message") {
    struct BrokenEngine : fer::player::Engine {
        std::vector<fer::player::Track> none;
        const std::vector<fer::player::Track>& tracks() const override { return none; }
        fer::player::Decision look() override { throw std::runtime_error("camera 0 cannot be opened"); }
    } engine;
    WebServer server(engine, any_port());
    server.start();
    httplib::Client client("127.0.0.1", server.port());
    auto res = client.Post("/api/detect", "", "application/json");
    REQUIRE(res);
    CHECK(res->status == 500);
    CHECK(json::parse(res->body)["error"] == "detect failed: camera 0 cannot be opened");
    server.stop();
    server.stop();  // idempotent
    CHECK_FALSE(client.Get("/api/library"));
}
