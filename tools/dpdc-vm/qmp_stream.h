// Splits a QMP byte stream into complete top-level JSON texts (pure).
// Requests may arrive split across reads or several in one read.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dpdc::vm {

class QmpStreamSplitter {
public:
    explicit QmpStreamSplitter(std::size_t max_message = 16 * 1024 * 1024) : max_(max_message) {}

    // Feeds bytes; returns the complete JSON texts found, in order. A top-level
    // scalar ends at whitespace. A message longer than the limit is returned as
    // is (it will fail to parse) and the splitter resynchronizes.
    std::vector<std::string> feed(std::string_view bytes);

    bool idle() const { return cur_.empty(); }

private:
    void finish(std::vector<std::string>& out);

    std::size_t max_;
    std::string cur_;
    int depth_ = 0;
    bool in_string_ = false;
    bool escape_ = false;
    bool scalar_ = false;
};

}  // namespace dpdc::vm
