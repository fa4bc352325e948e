// Small text helpers shared by the parsers (csv, mood map, tags, HTTP).
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace fer {

// ASCII lower case (file extensions, genres, header names: nothing locale-dependent).
inline std::string to_lower(std::string_view text) {
    std::string result(text);
    for (char& c : result) c = char(std::tolower(static_cast<unsigned char>(c)));
    return result;
}

// Without leading and trailing white space (spaces, tabs, CR, LF).
inline std::string_view trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
    return text;
}

}  // namespace fer
