// Little-endian binary encoding for model files and checkpoints: explicit byte order, so files move
// between machines, and a bounds-checked reader, so a damaged file gives an error, never a crash or an
// absurd allocation.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace fer {

class ByteWriter {
public:
    void u8(std::uint8_t v) { bytes_.push_back(v); }
    void u32(std::uint32_t v);
    void u64(std::uint64_t v);
    void f32(float v);
    void f64(double v);
    void string(const std::string& s);  // u64 length + bytes
    void floats(std::span<const float> values);  // u64 count + f32 each
    void raw(std::span<const std::uint8_t> data);
    const std::vector<std::uint8_t>& bytes() const { return bytes_; }
    std::vector<std::uint8_t>& bytes() { return bytes_; }

private:
    std::vector<std::uint8_t> bytes_;
};

// Thrown when the data ends early; `what()` names the source and the field being read.
class TruncatedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class ByteReader {
public:
    ByteReader(std::span<const std::uint8_t> data, std::string source) : data_(data), source_(std::move(source)) {}

    // `field` names what is being read, for error messages ("truncated in parameters").
    std::uint8_t u8(const char* field);
    std::uint32_t u32(const char* field);
    std::uint64_t u64(const char* field);
    float f32(const char* field);
    double f64(const char* field);
    std::string string(const char* field);
    std::vector<float> floats(const char* field);
    std::span<const std::uint8_t> raw(std::size_t count, const char* field);

    std::size_t position() const { return position_; }
    std::size_t remaining() const { return data_.size() - position_; }
    const std::string& source() const { return source_; }

private:
    void need(std::size_t count, const char* field);
    std::span<const std::uint8_t> data_;
    std::size_t position_ = 0;
    std::string source_;
};

}  // namespace fer
