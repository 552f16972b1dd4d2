// systemd's notification protocol (sd_notify through libsystemd): READY, STATUS, WATCHDOG,
// STOPPING. Without NOTIFY_SOCKET (not started by systemd) every call is a no-op.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace sc::agent {

class ServiceNotifier {
 public:
  virtual ~ServiceNotifier() = default;
  virtual void ready(const std::string& status) = 0;
  virtual void status(const std::string& status) = 0;
  virtual void watchdog() = 0;
  virtual void stopping() = 0;
  // The keep-alive interval systemd expects (half of WatchdogSec), if a watchdog is set.
  virtual std::optional<std::chrono::microseconds> watchdogInterval() const = 0;
};

class SystemdNotifier final : public ServiceNotifier {
 public:
  // ServiceNotifier
  void ready(const std::string& status) override;
  void status(const std::string& status) override;
  void watchdog() override;
  void stopping() override;
  std::optional<std::chrono::microseconds> watchdogInterval() const override;
};

}  // namespace sc::agent
