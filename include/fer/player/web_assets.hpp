// The web page's files (web/index.html, app.js, style.css) compiled into the program, so fer-play
// serves its page from any folder. The definition is generated at build time by cmake/embed_files.cmake.
#pragma once

#include <span>
#include <string_view>

namespace fer::player {

struct WebAsset {
    std::string_view name;   // file name without folders, e.g. "app.js"
    std::string_view bytes;  // the file's contents
};

std::span<const WebAsset> embedded_web_assets();

}  // namespace fer::player
