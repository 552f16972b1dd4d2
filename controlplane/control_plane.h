// ControlPlane: the ECS and Cloud Map state machine behind sccontrol.
//
// It owns an in-memory copy of every document in the Store (read once at start), so reads never
// touch the disk; every change is one Store transaction (compare-and-set against the revisions it
// read) applied to the copy only after it committed. The scheduler (placement, rolling
// deployments, replacement, draining, TTL loss) runs after each change and on tick().
//
// Thread rules: every public method is thread-safe. Changes are serialized by one mutex; the
// listener set with setChangeListener() is called after each commit, outside the lock.
#pragma once

#include <chrono>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/result.h"
#include "controlplane/credentials.h"
#include "controlplane/store.h"
#include "model/json_input.h"

namespace sc::controlplane {

using model::Json;

// An AWS error as the JSON 1.1 protocol carries it: {"__type": type, "message": message}.
struct ApiError {
  std::string type;
  std::string message;
  int status = 400;
};
using ApiResult = std::expected<Json, ApiError>;

enum class Api { kEcs, kCloudMap };

struct ControlPlaneOptions {
  std::string region = "us-east-1";
  std::string account = "000000000000";
  std::string vip_cidr = "127.255.0.0/16";  // for namespaces the control plane creates
  std::chrono::seconds instance_ttl{30};    // an instance silent this long is lost
  std::chrono::seconds heartbeat_interval{10};
  std::string bootstrap_token;                        // a token agents register with, known as "default"
  std::vector<BootstrapToken> bootstrap_tokens;       // and these (the credentials file's list)
  std::chrono::seconds stopped_task_retention{3600};  // also how long a deregistered instance is described
  // A lost instance (no heartbeat for instance_ttl) is removed after this long: its token no
  // longer works and its agent registers again if it comes back.
  std::chrono::seconds lost_instance_retention{86400};
};

// An instance tick() declared lost: what sccontrol logs.
struct InstanceLoss {
  std::string instance_id;  // the id in containerInstanceArn
  std::string container_instance_arn;
  std::string hostname;  // ec2InstanceId: what the agent registered as its hostname
  std::string cluster;
  std::optional<Clock::WallTime> last_heartbeat;  // none: not heard from since sccontrol started
  std::vector<std::string> tasks_stopped;         // task ids
};

class ControlPlane {
 public:
  // Loads the store's documents. Instances get a fresh TTL from now (their heartbeats are not
  // persisted), so a restart does not declare every instance lost.
  static Result<std::unique_ptr<ControlPlane>> create(Store& store, Clock& clock, ControlPlaneOptions options);

  // One AWS operation: validates `input` against the operation's input shape, runs it, and returns
  // the output shaped exactly as the model's output shape (members outside it are dropped).
  ApiResult call(Api api, std::string_view operation, const Json& input);

  // Replaces the bootstrap tokens (sccontrol's SIGHUP reload): registrations from now on need one
  // of these; instances already registered keep their instance tokens. None refuses every
  // registration.
  void setBootstrapTokens(std::vector<BootstrapToken> tokens);

  // Agent API (docs/api.md). Tokens are the instance tokens register() hands out.
  ApiResult agentRegister(const Json& body);
  ApiResult agentHeartbeat(const std::string& token, const Json& body);
  // The instance's desired state; nullopt while its etag is still `etag` (nothing to tell).
  // agentDesiredText() is the same as serialized JSON; it is what the long-poll path uses: the
  // body is assembled from per-task and per-namespace pieces cached by revision, so answering
  // thousands of parked polls after one change costs little more than hashing their bodies.
  std::expected<std::optional<Json>, ApiError> agentDesired(const std::string& token, const std::string& etag);
  std::expected<std::optional<std::string>, ApiError> agentDesiredText(const std::string& token,
                                                                       const std::string& etag);
  ApiResult agentStatus(const std::string& token, const Json& body);

  // Declares silent instances lost and runs the scheduler. Call periodically (sccontrol: 1 s).
  // Returns the instances it declared lost (the caller logs them).
  std::vector<InstanceLoss> tick();
  // Entries in the desired-state text caches (task views, instance bodies, snapshots); tests.
  size_t cachedTextCount() const;
  void setChangeListener(std::function<void()> listener);
  int64_t revision();
  const ControlPlaneOptions& options() const { return options_; }

  // The namespace snapshot agents receive (model::NamespaceSnapshot JSON), by namespace name.
  std::optional<Json> namespaceSnapshotForTest(const std::string& name);

  class Batch;

 private:
  ControlPlane(Store& store, Clock& clock, ControlPlaneOptions options);
  struct Doc {
    Json value;
    int64_t mod_revision = 0;
  };

  Result<void> commitLocked(Batch& b);
  ApiResult finish(Batch& b, Json out);  // commit + reconcile + notify

  // ECS
  ApiResult createCluster(const Json& in);
  ApiResult describeClusters(const Json& in);
  ApiResult listClusters(const Json& in);
  ApiResult deleteCluster(const Json& in);
  ApiResult updateCluster(const Json& in);
  ApiResult updateClusterSettings(const Json& in);
  ApiResult putClusterCapacityProviders(const Json& in);
  ApiResult registerTaskDefinition(const Json& in);
  ApiResult describeTaskDefinition(const Json& in);
  ApiResult listTaskDefinitions(const Json& in);
  ApiResult listTaskDefinitionFamilies(const Json& in);
  ApiResult deleteTaskDefinitions(const Json& in);
  ApiResult deregisterTaskDefinition(const Json& in);
  ApiResult createService(const Json& in);
  ApiResult updateService(const Json& in);
  ApiResult deleteService(const Json& in);
  ApiResult describeServices(const Json& in);
  ApiResult listServices(const Json& in);
  ApiResult listServicesByNamespace(const Json& in);
  // Service deployments (controlplane/service_deployments.cc): the history of a service's deployments.
  ApiResult describeServiceDeployments(const Json& in);
  ApiResult listServiceDeployments(const Json& in);
  // Tags (controlplane/tags.cc): clusters, services, tasks, task definitions, container instances.
  ApiResult tagResource(const Json& in);
  ApiResult untagResource(const Json& in);
  ApiResult listTagsForResource(const Json& in);
  ApiResult listTasks(const Json& in);
  ApiResult describeTasks(const Json& in);
  ApiResult stopTask(const Json& in);
  ApiResult listContainerInstances(const Json& in);
  ApiResult describeContainerInstances(const Json& in);
  ApiResult updateContainerInstancesState(const Json& in);
  ApiResult deregisterContainerInstance(const Json& in);
  // Cloud Map
  ApiResult createHttpNamespace(const Json& in);
  ApiResult getOperation(const Json& in);
  ApiResult listNamespaces(const Json& in);
  ApiResult getNamespace(const Json& in);
  ApiResult deleteNamespace(const Json& in);
  ApiResult cmListServices(const Json& in);
  ApiResult cmGetService(const Json& in);
  ApiResult listInstances(const Json& in);
  ApiResult discoverInstances(const Json& in);
  ApiResult discoverInstancesRevision(const Json& in);
  ApiResult getInstance(const Json& in);
  ApiResult getInstancesHealthStatus(const Json& in);
  ApiResult updateHttpNamespace(const Json& in);
  ApiResult cmDeleteService(const Json& in);
  ApiResult listOperations(const Json& in);
  // Cloud Map tags (controlplane/tags.cc): namespaces and services.
  ApiResult cmTagResource(const Json& in);
  ApiResult cmUntagResource(const Json& in);
  ApiResult cmListTagsForResource(const Json& in);

  // Helpers (mutex held).
  std::string ecsArn(const std::string& rest) const;
  std::string cmArn(const std::string& rest) const;
  // `hex_chars` hex digits from RAND_bytes (controlplane/secure_random.h); aborts if OpenSSL cannot
  // draw, rather than hand out a guessable ID.
  std::string newId(size_t hex_chars);
  std::string newDeploymentId();  // "ecs-svc/" + 19 decimal digits, as ECS
  double nowSeconds() const;
  std::optional<std::string> namespaceIdByRef(Batch& b, const std::string& ref);
  // The store key of the Cloud Map service `ref` names (its ID or ARN).
  std::optional<std::string> cmServiceKeyByRef(Batch& b, const std::string& ref);
  // The Cloud Map service a DiscoverInstances-style request names (NamespaceName, ServiceName).
  std::expected<std::string, ApiError> discoveredServiceKey(Batch& b, const Json& in);
  // InstancesRevision of a Cloud Map service (controlplane/cloud_map.cc says what it promises).
  int64_t instancesRevisionLocked(Batch& b, const std::string& cm_key);
  // Deletes a Cloud Map service; its VIP is released unless another service has the same dnsName.
  void releaseCloudMapServiceLocked(Batch& b, const std::string& key, const Json& cm);
  Json createNamespaceLocked(Batch& b, const std::string& name, const std::string& description,
                             const std::string& creator_request_id);
  // Sets cluster["serviceConnectDefaults"] to the namespace `ref` names (name, ID or ARN); a name
  // that does not exist creates an HTTP namespace (the seed's cluster rule).
  std::optional<ApiError> setDefaultNamespaceLocked(Batch& b, Json& cluster, const std::string& ref);
  // CreateCluster's and UpdateCluster's settings, configuration and serviceConnectDefaults.
  std::optional<ApiError> applyClusterMembers(Batch& b, Json& cluster, const Json& in, bool updating);
  // The store key of the tagged resource an ARN names; `missing` is the error type for a resource
  // that does not exist (the operation's model decides).
  std::expected<std::string, ApiError> ecsTaggedKey(Batch& b, const std::string& arn, const char* missing);
  std::expected<std::string, ApiError> cmTaggedKey(Batch& b, const std::string& arn);
  ApiResult applyServiceConnect(Batch& b, const Json& cluster, Json& service, const Json& td, const Json& sc_input,
                                const std::string& service_key);
  std::optional<Json> findTaskDefinition(Batch& b, const std::string& ref);
  Json describeInstanceLocked(Batch& b, const Json& inst);
  Json taskView(const Json& task);
  void reconcileLocked(Batch& b);
  void reconcileService(Batch& b, const std::string& key, const Json& cluster);
  void releaseServiceConnectLocked(Batch& b, const std::string& service_key, const std::set<std::string>& keep);
  void stopTaskLocked(Batch& b, const std::string& key, Json task, const std::string& reason, bool now_stopped);
  Json namespaceSnapshotLocked(Batch& b, const std::string& ns_id);
  // The instance an agent's token names; 401 for an unknown token, 410 for a deregistered instance.
  std::expected<std::string, ApiError> instanceForToken(const std::string& token);
  // The bootstrap token `presented` matches, checked for expiry and (single-use) earlier use; the
  // use of a single-use token is recorded in `b`, so it commits with the registration.
  std::expected<BootstrapToken, ApiError> acceptBootstrapLocked(Batch& b, const std::string& presented);
  // What a registration or a heartbeat may claim; nullopt when nothing is wrong.
  static std::optional<ApiError> registrationProblem(const Json& body);
  static std::optional<ApiError> heartbeatProblem(const Json& body);
  // Deregistered instances past stopped_task_retention and lost ones past
  // lost_instance_retention leave the store; their tokens stop working.
  void removeGoneInstancesLocked(Batch& b);
  void forgetInstanceLocked(Batch& b, const std::string& key, const Json& inst, const char* why);
  Json adoptTasksLocked(Batch& b, const Json& body, const std::string& cluster, const std::string& arn);
  void pruneTokensLocked();  // tokens and heartbeat times of instances no longer stored
  static ApiError invalidAgent(std::string message);
  static ApiError refuseReport(const Json& inst, std::string message);  // logged, then a 400

  Store& store_;
  Clock& clock_;
  ControlPlaneOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Doc> docs_;
  int64_t revision_ = 0;
  std::map<std::string, Clock::MonoTime> last_seen_;       // instance key -> last heartbeat
  std::map<std::string, Clock::MonoTime> orphaned_since_;  // unknown instance ARN a task names -> first seen
  bool withinOrphanGraceLocked(const std::string& instance_arn);
  // An agent call from the instance `key`: it is alive now. The first one after every instance was
  // silent (deaf_) restarts every instance's TTL.
  void noteHeardLocked(const std::string& key);
  // Two or more connected instances, none heard for half the TTL: sccontrol itself was likely cut
  // off (a partition, a stalled store), so tick() declares none lost (Kubernetes' node lifecycle
  // controller stops evictions when every zone is disrupted, for the same reason).
  bool everyInstanceSilentLocked(Batch& b, Clock::MonoTime now);
  bool deaf_ = false;
  std::unordered_map<std::string, std::string> tokens_;  // sha256(token) -> instance key
  std::mutex bootstrap_mu_;                              // guards bootstrap_tokens_
  std::vector<BootstrapToken> bootstrap_tokens_;
  std::mutex listener_mu_;
  std::function<void()> listener_;
  // Index: container instance ARN -> keys of its tasks (kept by commitLocked and create()).
  std::map<std::string, std::set<std::string>> tasks_by_instance_;
  void indexTask(const std::string& key, const Json* before, const Json* after);
  // Caches for agentDesiredText (mutex held). A namespace snapshot's revision is the store
  // revision at which its content last changed, so unrelated writes do not wake every agent.
  struct SnapshotCache {
    int64_t computed_at = -1;  // store revision it was computed at
    std::string content_hash;
    int64_t content_revision = 0;
    std::string text;
  };
  struct TextCache {
    std::string fingerprint;
    std::string text;
  };
  const SnapshotCache& snapshotTextLocked(const std::string& ns_id);
  // Every registered instance's task subnet and host address (ACTIVE or DRAINING, both set): the
  // routes each agent keeps to the others' tasks (host-gw). Cached per store revision.
  const SnapshotCache& peersTextLocked();
  SnapshotCache peers_cache_;
  // Drops cache entries whose task stopped or whose instance or namespace is gone; tick() runs it.
  void pruneCachesLocked();
  std::map<std::string, SnapshotCache> snapshot_cache_;
  std::unordered_map<std::string, TextCache> task_view_cache_;  // task key
  std::unordered_map<std::string, TextCache> desired_cache_;    // instance key (text = body, etag in fingerprint)
  struct InstancesRevision {
    int64_t revision = 0;  // the store revision at which `content` was first seen
    std::string content;   // the instance list
  };
  std::map<std::string, InstancesRevision> instances_revision_cache_;  // Cloud Map service key
};

}  // namespace sc::controlplane
