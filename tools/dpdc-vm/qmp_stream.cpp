#include "qmp_stream.h"

namespace dpdc::vm {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

void QmpStreamSplitter::finish(std::vector<std::string>& out)
{
    out.push_back(std::move(cur_));
    cur_.clear();
    depth_ = 0;
    in_string_ = escape_ = scalar_ = false;
}

std::vector<std::string> QmpStreamSplitter::feed(std::string_view bytes)
{
    std::vector<std::string> out;
    for (char c : bytes) {
        if (cur_.empty()) {
            if (is_space(c))
                continue;
            depth_ = 0;
            in_string_ = escape_ = false;
            scalar_ = !(c == '{' || c == '[' || c == '"');
        } else if (scalar_ && (is_space(c) || c == '{' || c == '[')) {
            finish(out);
            if (is_space(c))
                continue;
            scalar_ = false;
        }
        cur_.push_back(c);
        if (scalar_) {
            // accumulate until whitespace
        } else if (in_string_) {
            if (escape_)
                escape_ = false;
            else if (c == '\\')
                escape_ = true;
            else if (c == '"') {
                in_string_ = false;
                if (depth_ == 0)
                    finish(out);
            }
        } else if (c == '"') {
            in_string_ = true;
        } else if (c == '{' || c == '[') {
            ++depth_;
        } else if (c == '}' || c == ']') {
            if (--depth_ <= 0)
                finish(out);
        }
        if (!cur_.empty() && cur_.size() > max_)
            finish(out);
    }
    return out;
}

}  // namespace dpdc::vm
