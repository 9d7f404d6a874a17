#pragma once
// A QMP client for QEMU and dpdc-vm alike (dpdc-vm speaks the same wire
// format): one JSON object per line, a greeting on connect, capabilities
// negotiation, then commands answered by {"return"} or {"error"}; events
// ({"event"}) may come at any time and are kept aside.
#include <chrono>
#include <deque>
#include <string>

#include <nlohmann/json.hpp>

#include "dpdc/unique_fd.h"

namespace dpdc {

class QmpClient {
 public:
  // Connects to a unix socket and negotiates capabilities. Throws Error.
  explicit QmpClient(const std::string& socket_path,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The same over a socket already connected (fuzz/qmp_client_fuzz.cpp);
  // `name` stands for the socket path in messages.
  QmpClient(UniqueFd connected, const std::string& name,
            std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Runs a command; returns its "return" value, throws Error with QEMU's desc on "error".
  nlohmann::json execute(const std::string& command, const nlohmann::json& arguments = nullptr);

  const nlohmann::json& greeting() const noexcept { return greeting_; }
  // Events received so far, oldest first.
  std::deque<nlohmann::json>& events() noexcept { return events_; }

 private:
  void negotiate();
  nlohmann::json read_message();

  std::string path_;
  std::chrono::milliseconds timeout_;
  UniqueFd fd_;
  std::string inbuf_;
  nlohmann::json greeting_;
  std::deque<nlohmann::json> events_;
  unsigned next_id_ = 1;
};

}  // namespace dpdc
