#include "fer/player/music_library.hpp"

#include <fileref.h>
#include <tag.h>
#include <wavfile.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "fer/text.hpp"

namespace fer::player {
namespace {

namespace fs = std::filesystem;

std::string tag_text(const TagLib::String& value) {
    return std::string(trim(value.to8Bit(true)));
}

// Both paths canonical: every component of folder begins path.
bool is_inside(const fs::path& path, const fs::path& folder) {
    return std::mismatch(folder.begin(), folder.end(), path.begin(), path.end()).first == folder.end();
}

}  // namespace

bool is_audio_file(const fs::path& path) {
    static constexpr const char* kExtensions[] = {".mp3", ".ogg", ".opus", ".flac", ".wav", ".m4a"};
    const std::string ext = to_lower(path.extension().string());
    return std::any_of(std::begin(kExtensions), std::end(kExtensions), [&](const char* e) { return ext == e; });
}

MusicLibrary MusicLibrary::scan(const std::string& root) {
    std::error_code ec;
    if (!fs::exists(root, ec)) throw std::runtime_error("music folder " + root + ": no such folder");
    if (!fs::is_directory(root, ec)) throw std::runtime_error("music folder " + root + ": not a folder");
    const fs::path real_root = fs::canonical(root, ec);
    if (ec) throw std::runtime_error("music folder " + root + ": " + ec.message());
    std::vector<fs::path> files;
    // Folder links are not followed (the iterator's default), so only a file itself can be a link.
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec) && is_audio_file(it->path())) files.push_back(it->path());
    if (ec) throw std::runtime_error("music folder " + root + ": " + ec.message());
    std::sort(files.begin(), files.end());

    MusicLibrary library;
    library.root_ = root;
    for (const fs::path& path : files) {
        // The web server sends these files to whoever asks; a link must not make it send one from
        // elsewhere on the machine.
        std::error_code link_error;
        const fs::path target = fs::canonical(path, link_error);
        if (link_error || !is_inside(target, real_root)) {
            library.warnings_.push_back(path.string() + ": links outside the music folder" +
                                        (link_error ? "" : " (to " + target.string() + ")") + "; skipped");
            continue;
        }
        TagLib::FileRef file(path.c_str(), true, TagLib::AudioProperties::Fast);
        // TagLib's MP3 reader accepts any bytes (it searches for a frame sync); no sample rate means
        // it found no audio.
        if (file.isNull() || !file.audioProperties() || file.audioProperties()->sampleRate() <= 0) {
            library.warnings_.push_back(path.string() + ": not a readable audio file; skipped");
            continue;
        }
        Track track;
        track.id = library.tracks_.size();
        track.path = path.string();
        // FileRef::tag() of a WAV file is its ID3v2 tag only; most WAV taggers write RIFF INFO instead.
        const auto* wav = dynamic_cast<TagLib::RIFF::WAV::File*>(file.file());
        const TagLib::Tag* info = wav && wav->hasInfoTag() ? wav->InfoTag() : nullptr;
        for (const TagLib::Tag* tag : {static_cast<const TagLib::Tag*>(file.tag()), info}) {
            if (!tag) continue;
            if (track.title.empty()) track.title = tag_text(tag->title());
            if (track.artist.empty()) track.artist = tag_text(tag->artist());
            if (track.genre.empty()) track.genre = tag_text(tag->genre());
        }
        if (track.title.empty()) track.title = path.stem().string();
        if (track.genre.empty()) track.genre = path.parent_path().filename().string();
        library.tracks_.push_back(std::move(track));
        library.seconds_.push_back(file.audioProperties()->lengthInMilliseconds() / 1000.0);
    }
    if (library.tracks_.empty())
        throw std::runtime_error("music folder " + root + ": no playable mp3/ogg/opus/flac/wav/m4a files" +
                                 (files.empty() ? "" : " (" + std::to_string(files.size()) + " unreadable)"));
    return library;
}

}  // namespace fer::player
