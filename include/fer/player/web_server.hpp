// fer-play's web server: the page (the paper's Fig. 5), a JSON API over the Engine, and the music files
// with HTTP Range support so the browser's <audio> element can seek. API reference: docs/player-web.md.
#pragma once

#include <memory>
#include <string>

#include "fer/player/engine.hpp"

namespace fer::player {

struct WebOptions {
    std::string host = "127.0.0.1";  // loopback by default: the API starts the camera and plays files
    int port = 8077;                 // 0 = any free port; read it back with WebServer::port()
    std::string web_root;            // folder with index.html, app.js, style.css; empty = the embedded copy
    int threads = 8;                 // connections served at once (a detect holds one while it looks)
};

// Serves until stop() or destruction. Handlers run on the server's threads; the engine must outlive it.
class WebServer {
public:
    WebServer(Engine& engine, WebOptions options);
    ~WebServer();
    WebServer(const WebServer&) = delete;
    WebServer& operator=(const WebServer&) = delete;

    // Binds and starts listening in a background thread; returns once requests are being accepted.
    // Throws std::runtime_error naming the host and port when it cannot bind.
    void start();
    int port() const;  // the bound port (the chosen one when options.port was 0); 0 before start()
    void stop();       // idempotent; waits for the listening thread

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Blocking convenience for tools/fer-play.cpp: starts a WebServer, prints its address to stdout and
// serves until SIGINT or SIGTERM. It blocks those signals in the calling thread (and so in the server's
// threads) and waits for them with sigwait, so no signal handler or global flag is needed.
void run_web_server(Engine& engine, const WebOptions& options);

}  // namespace fer::player
