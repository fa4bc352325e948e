// The music the player chooses from: a folder scanned recursively for audio files, sorted by path so
// that track ids are stable between runs. Genre and title come from the file's tags (TagLib), falling
// back to the parent folder's name and the file name, so an untagged folder tree sorted by genre works.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "fer/player/engine.hpp"

namespace fer::player {

// mp3 ogg opus flac wav m4a, extension case-insensitive.
bool is_audio_file(const std::filesystem::path& path);

class MusicLibrary {
public:
    // Every audio file under root. A file TagLib cannot read as audio is skipped with a warning naming
    // it (never an error). Throws std::runtime_error naming root when it does not exist, is not a folder,
    // or holds no playable track.
    static MusicLibrary scan(const std::string& root);

    const std::string& root() const { return root_; }
    const std::vector<Track>& tracks() const { return tracks_; }
    // Length from the file's audio properties; 0 when unknown.
    double seconds(std::size_t id) const { return seconds_.at(id); }
    const std::vector<std::string>& warnings() const { return warnings_; }

private:
    std::string root_;
    std::vector<Track> tracks_;
    std::vector<double> seconds_;
    std::vector<std::string> warnings_;
};

}  // namespace fer::player
