#include "fer/binary_io.hpp"

#include <bit>
#include <cstring>

namespace fer {

void ByteWriter::u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes_.push_back(std::uint8_t(v >> (8 * i)));
}
void ByteWriter::u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes_.push_back(std::uint8_t(v >> (8 * i)));
}
void ByteWriter::f32(float v) {
    u32(std::bit_cast<std::uint32_t>(v));
}
void ByteWriter::f64(double v) {
    u64(std::bit_cast<std::uint64_t>(v));
}
void ByteWriter::string(const std::string& s) {
    u64(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
}
void ByteWriter::raw(std::span<const std::uint8_t> data) {
    if (data.empty()) return;
    std::size_t start = bytes_.size();
    bytes_.resize(start + data.size());
    std::memcpy(bytes_.data() + start, data.data(), data.size());
}
void ByteWriter::floats(std::span<const float> values) {
    u64(values.size());
    // An empty span (a network without state buffers) may hold a null pointer, which memcpy must never get.
    if (values.empty()) return;
    std::size_t start = bytes_.size();
    bytes_.resize(start + 4 * values.size());
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(bytes_.data() + start, values.data(), 4 * values.size());
    } else {
        for (std::size_t i = 0; i < values.size(); ++i) {
            std::uint32_t bits = std::bit_cast<std::uint32_t>(values[i]);
            for (int b = 0; b < 4; ++b) bytes_[start + 4 * i + b] = std::uint8_t(bits >> (8 * b));
        }
    }
}

void ByteReader::need(std::size_t count, const char* field) {
    if (count > remaining())
        throw TruncatedError(source_ + ": truncated in " + field + " (needs " + std::to_string(count) +
                             " bytes at offset " + std::to_string(position_) + ", " + std::to_string(remaining()) +
                             " left)");
}

std::uint8_t ByteReader::u8(const char* field) {
    need(1, field);
    return data_[position_++];
}
std::uint32_t ByteReader::u32(const char* field) {
    need(4, field);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(data_[position_ + i]) << (8 * i);
    position_ += 4;
    return v;
}
std::uint64_t ByteReader::u64(const char* field) {
    need(8, field);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(data_[position_ + i]) << (8 * i);
    position_ += 8;
    return v;
}
float ByteReader::f32(const char* field) {
    return std::bit_cast<float>(u32(field));
}
double ByteReader::f64(const char* field) {
    return std::bit_cast<double>(u64(field));
}
std::string ByteReader::string(const char* field) {
    std::uint64_t length = u64(field);
    need(length, field);  // checked before allocating, so a damaged length cannot ask for gigabytes
    std::string s(reinterpret_cast<const char*>(data_.data() + position_), std::size_t(length));
    position_ += std::size_t(length);
    return s;
}
std::vector<float> ByteReader::floats(const char* field) {
    std::uint64_t count = u64(field);
    if (count > remaining() / 4) need(std::size_t(-1), field);
    std::vector<float> values(count);
    for (auto& v : values) v = f32(field);
    return values;
}
std::span<const std::uint8_t> ByteReader::raw(std::size_t count, const char* field) {
    need(count, field);
    auto out = data_.subspan(position_, count);
    position_ += count;
    return out;
}

}  // namespace fer
