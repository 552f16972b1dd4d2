// The agent's side of sccontrol's agent API (docs/api.md, "Agent API"): register, heartbeat,
// long-poll the desired tasks, report task status.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/json_input.h"

namespace sc::agent {

struct RegisterRequest {
  std::string bootstrap_token;
  std::string cluster;
  std::string hostname;
  std::string agent_version;
  int64_t memory_mib = 0;
  int64_t cpu_units = 0;
  std::map<std::string, std::string> attributes;  // "sc.capability.service-connect-v1" etc.
  std::string task_cidr;                          // network.taskCidr: where this host's tasks are reached
  std::string host_address;                       // network.hostAddress ("": the bridge's gateway)
  // Registering again after sccontrol refused the old token: the old instance and the tasks this
  // host runs, which sccontrol gives to the new instance if the old one is gone.
  std::string previous_instance_arn;
  std::vector<std::string> adopt_task_arns;
};

struct Registration {
  std::string container_instance_arn;
  std::string instance_id;
  std::string token;
  int heartbeat_interval_s = 10;
  int ttl_s = 60;
  std::vector<std::string> adopted_task_arns;  // of RegisterRequest::adopt_task_arns, those sccontrol gave over
};

// The largest desired-state answer the agent reads. Each namespace snapshot comes once per
// answer, so this is about tasks x task definition + the namespaces' endpoints: 100 tasks of a
// namespace of 1000 endpoints are ~0.5 MB (docs/benchmarks.md). Past it the poll fails with
// "the answer is longer than ..." and scagent_desired_state_too_large_total counts it.
inline constexpr size_t kMaxDesiredStateBytes = 32u << 20;

struct DesiredTaskPayload {
  std::string task_arn;
  std::string task_id;
  std::string desired_status;   // RUNNING or STOPPED
  model::Json task_definition;  // RegisterTaskDefinition-shaped
  model::Json service;          // {serviceName, cluster, taskDefinition, serviceConnectConfiguration}
  // The namespace snapshot (model/parse.h), null without one; shared by the answer's tasks.
  std::shared_ptr<const model::Json> ns;
};

// Another registered instance's task subnet and the host address it is reached at (host-gw routes).
struct PeerInstance {
  std::string container_instance_arn;
  std::string host_address;
  std::string task_cidr;
  auto operator<=>(const PeerInstance&) const = default;
};

struct DesiredState {
  std::string etag;
  int64_t revision = 0;
  std::string instance_status;  // ACTIVE or DRAINING
  std::vector<DesiredTaskPayload> tasks;
  // Every registered instance with a subnet and host address, this one included; absent from an
  // older sccontrol (then nullopt: the routes stay as they are).
  std::optional<std::vector<PeerInstance>> peers;
};

struct EndpointReport {
  std::string discovery_name;
  std::string ip;
  int port = 0;
};

struct ContainerReport {
  std::string name;
  std::string last_status;
  std::optional<int> exit_code;
  std::string reason;
};

struct TaskReport {
  std::string task_arn;
  std::string last_status;
  std::string health_status;  // HEALTHY, UNHEALTHY, UNKNOWN
  std::string reason;
  std::vector<ContainerReport> containers;
  std::vector<EndpointReport> endpoints;  // only while the task serves
};

// Errors: kPermission when the instance token was refused (register again), kUnavailable when
// sccontrol did not answer, kInvalidArgument when it refused the request.
class ControlPlaneClient {
 public:
  virtual ~ControlPlaneClient() = default;
  virtual Result<Registration> registerInstance(const RegisterRequest& request) = 0;
  virtual Result<void> heartbeat(const std::string& token, const std::map<std::string, std::string>& attributes) = 0;
  // nullopt: nothing changed since `etag` within `wait_s` seconds.
  virtual Result<std::optional<DesiredState>> desired(const std::string& token, const std::string& etag,
                                                      int wait_s) = 0;
  virtual Result<void> report(const std::string& token, const std::vector<TaskReport>& tasks) = 0;
};

class HttpControlPlaneClient final : public ControlPlaneClient {
 public:
  // `endpoints`: the sccontrol replicas (at least one). Each call goes to the one that answered
  // last; a connection error, a timeout or a 5xx moves it to the next, in turn, within the call.
  // `cancel` (optional) abandons a long-poll in flight when it turns true (a stopping agent).
  // Reports are never cancelled: the last ones go out on the way down.
  explicit HttpControlPlaneClient(std::vector<std::string> endpoints, const std::atomic<bool>* cancel = nullptr)
      : endpoints_(std::move(endpoints)), cancel_(cancel) {}
  // ControlPlaneClient
  Result<Registration> registerInstance(const RegisterRequest& request) override;
  Result<void> heartbeat(const std::string& token, const std::map<std::string, std::string>& attributes) override;
  Result<std::optional<DesiredState>> desired(const std::string& token, const std::string& etag, int wait_s) override;
  Result<void> report(const std::string& token, const std::vector<TaskReport>& tasks) override;

  // The endpoint the next call goes to first.
  std::string currentEndpoint() const { return endpoints_[current_.load() % endpoints_.size()]; }

 private:
  struct Call;
  Result<model::Json> callAny(const Call& c, long* status);
  std::vector<std::string> endpoints_;
  std::atomic<size_t> current_{0};
  const std::atomic<bool>* cancel_;
};

// The JSON forms, exposed for tests.
model::Json registerRequestToJson(const RegisterRequest& r);
Result<Registration> registrationFromJson(const model::Json& j);
Result<DesiredState> desiredStateFromJson(const model::Json& j);
model::Json taskReportsToJson(const std::vector<TaskReport>& tasks);

}  // namespace sc::agent
