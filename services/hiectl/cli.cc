#include "services/hiectl/cli.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>
#include <tuple>
#include <type_traits>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "hie/audit/v1/audit.grpc.pb.h"
#include "hie/consent/v1/consent.grpc.pb.h"
#include "hie/identity/v1/identity.grpc.pb.h"
#include "hie/locator/v1/locator.grpc.pb.h"
#include "hie/registry/v1/registry.grpc.pb.h"
#include "services/common/logging.h"
#include "services/common/status.h"
#include "services/common/text.h"
#include "services/common/tls.h"
#include "services/hiectl/commands.h"
#include "services/hiectl/gateway_cli.h"
#include "services/hiectl/gateway_routes.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
    return "{\"error\":\"cannot encode the response as JSON\"}";
  }
  return json;
}

std::shared_ptr<grpc::Channel> MakeChannel(const Config& config, std::string* error) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = hie::MakeTlsChannelCredentials(
      {config.Get("tls-ca"), config.Get("tls-cert"), config.Get("tls-key")});
  if (!creds.ok()) {
    *error = std::string(creds.status().message());
    return nullptr;
  }
  const std::string& gateway = config.Get("gateway");
  return grpc::CreateChannel(gateway.empty() ? config.Get("target") : gateway, *creds);
}

namespace {

namespace id = ::hie::identity::v1;
namespace audit = ::hie::audit::v1;
namespace consent = ::hie::consent::v1;
namespace locator = ::hie::locator::v1;
namespace registry = ::hie::registry::v1;
using Stub = id::IdentityService::StubInterface;

// An RPC of `Service`: its name (for error messages) and the stub method that sends it.
template <typename Service, typename Req, typename Resp>
struct Rpc {
  using ServiceType = Service;
  using Request = Req;
  using Response = Resp;
  using StubType = typename Service::StubInterface;
  const char* name;
  grpc::Status (StubType::*send)(grpc::ClientContext*, const Req&, Resp*);
};
template <typename Service, typename Req, typename Resp>
constexpr Rpc<Service, Req, Resp> MakeRpc(
    const char* name,
    grpc::Status (Service::StubInterface::*send)(grpc::ClientContext*, const Req&, Resp*)) {
  return {name, send};
}
template <typename Req, typename Resp>
constexpr auto IdentityRpc(const char* name,
                           grpc::Status (Stub::*send)(grpc::ClientContext*, const Req&, Resp*)) {
  return MakeRpc<id::IdentityService>(name, send);
}
template <typename Req, typename Resp>
constexpr auto AuditRpc(const char* name,
                        grpc::Status (audit::AuditLog::StubInterface::*send)(grpc::ClientContext*,
                                                                             const Req&, Resp*)) {
  return MakeRpc<audit::AuditLog>(name, send);
}
template <typename Req, typename Resp>
constexpr auto ConsentRpc(const char* name,
                          grpc::Status (consent::ConsentService::StubInterface::*send)(
                              grpc::ClientContext*, const Req&, Resp*)) {
  return MakeRpc<consent::ConsentService>(name, send);
}
template <typename Req, typename Resp>
constexpr auto LocatorRpc(const char* name,
                          grpc::Status (locator::RecordLocator::StubInterface::*send)(
                              grpc::ClientContext*, const Req&, Resp*)) {
  return MakeRpc<locator::RecordLocator>(name, send);
}
template <typename Req, typename Resp>
constexpr auto RegistryRpc(const char* name,
                           grpc::Status (registry::DocumentRegistry::StubInterface::*send)(
                               grpc::ClientContext*, const Req&, Resp*)) {
  return MakeRpc<registry::DocumentRegistry>(name, send);
}

// Every RPC a command may make, looked up by its types (RpcOf): the typed handlers of the
// UnaryCall actions of the command table. An Action with no entry here does not compile.
constexpr auto kRpcs = std::make_tuple(
    IdentityRpc("RegisterSourceRecord", &Stub::RegisterSourceRecord),
    IdentityRpc("Resolve", &Stub::Resolve), IdentityRpc("SearchPersons", &Stub::SearchPersons),
    IdentityRpc("ListReviewTasks", &Stub::ListReviewTasks),
    IdentityRpc("GetReviewTask", &Stub::GetReviewTask),
    IdentityRpc("ResolveReviewTask", &Stub::ResolveReviewTask),
    IdentityRpc("LinkRecord", &Stub::LinkRecord), IdentityRpc("UnlinkRecord", &Stub::UnlinkRecord),
    IdentityRpc("MergePersons", &Stub::MergePersons),
    IdentityRpc("UnmergePersons", &Stub::UnmergePersons),
    IdentityRpc("GetPerson", &Stub::GetPerson),
    IdentityRpc("GetSourceRecord", &Stub::GetSourceRecord),
    IdentityRpc("GetHistory", &Stub::GetHistory),
    AuditRpc("SearchEvents", &audit::AuditLog::StubInterface::SearchEvents),
    AuditRpc("GetAccountingOfDisclosures",
             &audit::AuditLog::StubInterface::GetAccountingOfDisclosures),
    AuditRpc("Verify", &audit::AuditLog::StubInterface::Verify),
    AuditRpc("ListCheckpoints", &audit::AuditLog::StubInterface::ListCheckpoints),
    AuditRpc("CreateCheckpoint", &audit::AuditLog::StubInterface::CreateCheckpoint),
    AuditRpc("ListSigningKeys", &audit::AuditLog::StubInterface::ListSigningKeys),
    ConsentRpc("CreateDirective", &consent::ConsentService::StubInterface::CreateDirective),
    ConsentRpc("ListDirectives", &consent::ConsentService::StubInterface::ListDirectives),
    ConsentRpc("RevokeDirective", &consent::ConsentService::StubInterface::RevokeDirective),
    ConsentRpc("ListBreakGlassGrants",
               &consent::ConsentService::StubInterface::ListBreakGlassGrants),
    ConsentRpc("ReviewBreakGlass", &consent::ConsentService::StubInterface::ReviewBreakGlass),
    ConsentRpc("Decide", &consent::ConsentService::StubInterface::Decide),
    LocatorRpc("Locate", &locator::RecordLocator::StubInterface::Locate),
    LocatorRpc("ListLocations", &locator::RecordLocator::StubInterface::ListLocations),
    LocatorRpc("DeleteLocation", &locator::RecordLocator::StubInterface::DeleteLocation),
    RegistryRpc("FindDocuments", &registry::DocumentRegistry::StubInterface::FindDocuments),
    RegistryRpc("GetDocuments", &registry::DocumentRegistry::StubInterface::GetDocuments),
    RegistryRpc("GetRelatedDocuments",
                &registry::DocumentRegistry::StubInterface::GetRelatedDocuments),
    RegistryRpc("DeprecateDocument",
                &registry::DocumentRegistry::StubInterface::DeprecateDocument));

template <typename Req, typename Resp, size_t I = 0>
constexpr const auto& RpcOf() {
  using Entry = std::tuple_element_t<I, std::remove_const_t<decltype(kRpcs)>>;
  if constexpr (std::is_same_v<typename Entry::Request, Req> &&
                std::is_same_v<typename Entry::Response, Resp>) {
    return std::get<I>(kRpcs);
  } else {
    return RpcOf<Req, Resp, I + 1>();
  }
}

// --all stops after this many pages (and says so), so that a broad search cannot exhaust memory.
constexpr int kMaxPages = 100;

// A response with pages (a list RPC): --all follows its tokens.
template <typename Req, typename Resp>
concept Paged = requires(Req request, Resp response) {
  request.set_page_token(response.next_page_token());
  response.set_next_page_token("");
};

// Everything a command needs: flags, stubs, deadline, output mode, randomness.
class Session {
 public:
  Session(Config config, absl::Duration timeout, bool json)
      : config_(std::move(config)), timeout_(timeout), json_(json), rng_(std::random_device{}()) {}

  const Config& config() const { return config_; }
  absl::Duration timeout() const { return timeout_; }
  bool json() const { return json_; }

  // Connects on first use (so that usage errors are reported before TLS files are read).
  // Prints the error and returns false when the TLS files are unusable.
  bool Connect() {
    if (channel_ != nullptr) return true;
    std::string error;
    channel_ = MakeChannel(config_, &error);
    if (channel_ == nullptr) {
      std::cerr << "hiectl: " << error << "\n";
      return false;
    }
    // Every stub now, so that bulk registration's threads only read them.
    stubs_ = {id::IdentityService::NewStub(channel_),
              audit::AuditLog::NewStub(channel_),
              consent::ConsentService::NewStub(channel_),
              locator::RecordLocator::NewStub(channel_),
              registry::DocumentRegistry::NewStub(channel_),
              hie::gateway::v1::OperatorGateway::NewStub(channel_),
              hie::gateway::v1::AdminGateway::NewStub(channel_)};
    return true;
  }
  // The stub of `Service`; only after Connect() returned true.
  template <typename Service>
  typename Service::StubInterface& StubOf() {
    return *std::get<std::unique_ptr<typename Service::StubInterface>>(stubs_);
  }
  Stub& stub() { return StubOf<id::IdentityService>(); }

  std::string NewId() {
    std::lock_guard<std::mutex> lock(mu_);
    return RandomId(rng_);
  }

  // Deadline, and the request id also as `x-request-id` metadata, which the hub's RPC logs
  // record (services/common/server.h RequestIdOf).
  void Prepare(grpc::ClientContext* context, const std::string& request_id) const {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    context->AddMetadata("x-request-id", request_id);
  }

  // Fills the request's context (and a missing idempotency key), sends it with `rpc` (every
  // page with --all), prints the response or the error. Returns the exit status.
  template <typename Service, typename Req, typename Resp>
  int Call(const Rpc<Service, Req, Resp>& rpc, UnaryCall<Req, Resp>& unary) {
    Req& request = unary.request;
    std::string request_id = NewId();
    absl::StatusOr<hie::common::v1::RequestContext> context = ContextOf(unary, request_id);
    if (!context.ok()) {
      std::cerr << "hiectl: " << context.status().message() << "\n";
      return 2;
    }
    *request.mutable_context() = *context;
    std::string idempotency_key;
    if constexpr (requires { request.idempotency_key(); }) {
      if (request.idempotency_key().empty()) request.set_idempotency_key(NewId());
      idempotency_key = request.idempotency_key();
      if (unary.print_idempotency_key) {
        std::cerr << "hiectl: idempotency key " << hie::PrintableText(idempotency_key)
                  << " (retry with --idempotency-key=" << hie::PrintableText(idempotency_key)
                  << " if the outcome is unclear)\n";
      }
    }
    if (!Connect()) return 2;
    Resp response;
    grpc::Status status = Send(rpc, request, &response, request_id);
    if constexpr (Paged<Req, Resp>) {
      if (status.ok() && unary.all_pages) status = FollowPages(rpc, request, response, request_id);
    }
    if (!status.ok()) return Failed(rpc.name, status, request_id, idempotency_key);
    // Text output holds what clinics sent; a control character must not reach the terminal.
    std::cout << (json_ ? ToJson(response) + "\n"
                        : hie::PrintableText(unary.render(response), /*keep_newlines=*/true));
    if (unary.alarm) {
      if (std::string alarm = unary.alarm(response); !alarm.empty()) {
        std::cout.flush();
        std::cerr << "hiectl: " << hie::PrintableText(alarm) << "\n";
        return kAlarmExitCode;
      }
    }
    return 0;
  }

 private:
  template <typename Req, typename Resp>
  absl::StatusOr<hie::common::v1::RequestContext> ContextOf(const UnaryCall<Req, Resp>& unary,
                                                            const std::string& request_id) const {
    if (!unary.context_purpose.has_value()) return BuildContext(config_, request_id);
    hie::common::v1::RequestContext context;  // the user: the certificate's holder
    context.set_request_id(request_id);
    context.set_purpose_of_use(*unary.context_purpose);
    if (unary.context_actor.has_value()) *context.mutable_actor() = *unary.context_actor;
    return context;
  }

  template <typename Service, typename Req, typename Resp>
  grpc::Status Send(const Rpc<Service, Req, Resp>& rpc, const Req& request, Resp* response,
                    const std::string& request_id) {
    grpc::ClientContext call;
    Prepare(&call, request_id);
    if (config_.Get("gateway").empty())
      return (StubOf<Service>().*rpc.send)(&call, request, response);
    if constexpr (kHasGatewayRoute<Req, Resp>) {
      const auto& route = GatewayRouteOf<Req, Resp>();
      using Route = std::remove_cvref_t<decltype(route)>;
      auto through = ToGatewayRequest<typename Route::GatewayRequest>(request);
      if (!through.ok()) return ToGrpcStatus(through.status());
      auto& stub = *std::get<std::unique_ptr<typename Route::StubType>>(stubs_);
      return (stub.*route.send)(&call, *through, response);
    } else {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          "this command is not offered through the gateway (no --gateway)");
    }
  }

  // Fetches the pages after `response` (at most kMaxPages in all) and appends them to it; the
  // token left in `response` is the next page's when the limit stopped the run.
  template <typename Service, typename Req, typename Resp>
  grpc::Status FollowPages(const Rpc<Service, Req, Resp>& rpc, Req& request, Resp& response,
                           const std::string& request_id) {
    for (int pages = 1; !response.next_page_token().empty(); ++pages) {
      if (pages == kMaxPages) {
        std::cerr << "hiectl: --all stopped after " << kMaxPages
                  << " pages; narrow the filters or continue with the printed --page-token\n";
        break;
      }
      request.set_page_token(response.next_page_token());
      Resp page;
      grpc::Status status = Send(rpc, request, &page, request_id);
      if (!status.ok()) return status;
      std::string token = page.next_page_token();
      response.MergeFrom(page);
      response.set_next_page_token(token);
    }
    return grpc::Status::OK;
  }

  // Prints a failed call's error (and how to retry a write safely). Returns the exit status.
  static int Failed(const char* rpc, const grpc::Status& status, const std::string& request_id,
                    const std::string& idempotency_key) {
    std::cerr << "hiectl: " << rpc << " failed: " << hie::GrpcCodeName(status.error_code()) << ": "
              << status.error_message() << " (request id " << request_id << ")\n";
    grpc::StatusCode code = status.error_code();
    bool unknown_outcome = code == grpc::StatusCode::UNKNOWN ||
                           code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                           code == grpc::StatusCode::UNAVAILABLE;
    if (!idempotency_key.empty() && unknown_outcome) {
      std::cerr << "hiectl: the change may or may not have been made; retry safely with "
                << "--idempotency-key=" << idempotency_key << "\n";
    } else if (code == grpc::StatusCode::ABORTED) {
      std::cerr << "hiectl: nothing was changed: a concurrent change (or a stale etag); look "
                   "again and retry\n";
    }
    return ExitCodeForGrpcCode(status.error_code());
  }

  Config config_;
  std::shared_ptr<grpc::Channel> channel_;
  std::tuple<std::unique_ptr<id::IdentityService::StubInterface>,
             std::unique_ptr<audit::AuditLog::StubInterface>,
             std::unique_ptr<consent::ConsentService::StubInterface>,
             std::unique_ptr<locator::RecordLocator::StubInterface>,
             std::unique_ptr<registry::DocumentRegistry::StubInterface>,
             std::unique_ptr<hie::gateway::v1::OperatorGateway::StubInterface>,
             std::unique_ptr<hie::gateway::v1::AdminGateway::StubInterface>>
      stubs_;
  absl::Duration timeout_;
  bool json_;
  std::mutex mu_;
  std::mt19937_64 rng_;
};

int Usage(const absl::Status& status) {
  std::cerr << "hiectl: " << status.message() << "\n";
  return 2;
}

int Health(const Config& config, const HealthCheck& check, absl::Duration timeout, bool json) {
  std::string error;
  std::shared_ptr<grpc::Channel> channel = MakeChannel(config, &error);
  if (channel == nullptr) return Usage(absl::InvalidArgumentError(error));
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(check.service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  std::string target = config.Get("target");
  if (!status.ok()) {
    if (json) {
      std::cout << "{\"target\":" << hie::JsonQuote(target)
                << ",\"error\":" << hie::JsonQuote(status.error_message()) << "}\n";
    } else {
      std::cerr << "hiectl: cannot check " << target << ": " << status.error_message() << "\n";
    }
    return 2;
  }
  std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  if (json) {
    std::cout << "{\"target\":" << hie::JsonQuote(target)
              << ",\"service\":" << hie::JsonQuote(request.service()) << ",\"status\":\"" << name
              << "\"}\n";
  } else {
    std::cout << target << (request.service().empty() ? "" : " " + request.service()) << ": "
              << name << "\n";
  }
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

// Rows per RegisterSourceRecords call of `register --file`.
constexpr size_t kRowsPerCall = 50;

// The checked flags and the parsed file of `register --file`.
struct BulkInput {
  int parallel = 1;
  bool validate_only = false;
  BulkFile file;
};

// Checks the flags of `register --file`, reads and parses the file. Errors are for Usage().
absl::StatusOr<BulkInput> LoadBulkInput(const Config& config) {
  for (const char* key :
       {"org", "local-id", "given", "middle", "family", "sex", "birth-date", "address-line", "city",
        "state", "postal-code", "phone", "email", "ssn", "idempotency-key"}) {
    if (!config.Get(key).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--file cannot be combined with --", key, " (the file gives every row)"));
    }
  }
  BulkInput input;
  HIE_ASSIGN_OR_RETURN(int64_t parallel, config.GetInt("parallel"));
  if (parallel < 1 || parallel > 16) {
    return absl::InvalidArgumentError("--parallel must be between 1 and 16");
  }
  input.parallel = static_cast<int>(parallel);
  HIE_ASSIGN_OR_RETURN(input.validate_only, config.GetBool("validate-only"));
  HIE_ASSIGN_OR_RETURN(std::string text, hie::ReadFileToString(config.Get("file")));
  HIE_ASSIGN_OR_RETURN(CsvEncoding encoding,
                       ParseCsvEncoding(config.Get("encoding"), "--encoding"));
  absl::StatusOr<BulkFile> file = ParseBulkFile(text, encoding);
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat(config.Get("file"), ": ", file.status().message()));
  }
  input.file = *std::move(file);
  // A dry run must not use (and so spoil) the key of the real registration.
  if (input.validate_only) {
    for (BulkRow& row : input.file.rows) {
      row.request.set_validate_only(true);
      row.request.set_idempotency_key(row.request.idempotency_key() + "-validate");
    }
  }
  return input;
}

// One run of `register --file` over a connected session: the good rows in RegisterSourceRecords
// calls of up to kRowsPerCall rows, up to --parallel calls in flight; with --validate-only, one
// RegisterSourceRecord dry run per row (a batch is never a dry run).
class BulkRegistration {
 public:
  BulkRegistration(Session& session, BulkInput input)
      : session_(session), input_(std::move(input)) {}

  // Returns the exit status.
  int Run() {
    const BulkFile& file = input_.file;
    summary_.rows = static_cast<int>(file.rows.size() + file.errors.size());
    summary_.errors = static_cast<int>(file.errors.size());
    for (const BulkRowError& error : file.errors) {
      std::cerr << "hiectl: " << session_.config().Get("file") << ": " << error.message
                << " (skipped)\n";
    }
    std::vector<std::thread> threads;
    for (int t = 1; t < input_.parallel; ++t) {
      threads.emplace_back([this, t] { Work(static_cast<size_t>(t)); });
    }
    Work(0);
    for (std::thread& t : threads) t.join();

    summary_.not_sent = static_cast<int>(file.rows.size()) - sent_;
    if (input_.validate_only) std::cerr << "dry run (--validate-only): nothing was stored\n";
    // The summary goes to stderr in JSON mode so that stdout stays one JSON object per line.
    (session_.json() ? std::cerr : std::cout) << RenderBulkSummary(summary_);
    if (stop_) {
      std::cerr << "hiectl: stopped: the server could not be reached or timed out; re-running the "
                   "file is safe "
                   "(rows already registered are recognised by their idempotency keys)\n";
      return 2;
    }
    return summary_.errors > 0 ? 1 : 0;
  }

 private:
  // Rows of one record always go to the same worker, in file order, so that successive versions
  // of a record in one file are registered in the order the file gives them (the entries of a
  // call are decided in order).
  size_t ShardOf(const BulkRow& row) const {
    return std::hash<std::string>{}(absl::StrCat(row.request.source_id().org(), "\n",
                                                 row.request.source_id().local_id())) %
           static_cast<size_t>(input_.parallel);
  }

  // Sends the rows of `shard`, kRowsPerCall (or, dry run, one) at a time, until stop_.
  void Work(size_t shard) {
    const size_t rows_per_call = input_.validate_only ? 1 : kRowsPerCall;
    std::vector<const BulkRow*> rows;
    for (const BulkRow& row : input_.file.rows) {
      if (stop_) return;
      if (ShardOf(row) != shard) continue;
      rows.push_back(&row);
      if (rows.size() == rows_per_call) {
        Send(rows);
        rows.clear();
      }
    }
    if (!stop_) Send(rows);
  }

  // One call for `rows` (one row with --validate-only); reports every row's answer.
  void Send(const std::vector<const BulkRow*>& rows) {
    if (rows.empty()) return;
    const std::string request_id = session_.NewId();
    absl::StatusOr<hie::common::v1::RequestContext> context =
        BuildContext(session_.config(), request_id);
    if (!context.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      std::cerr << "hiectl: " << context.status().message() << "\n";
      stop_ = true;
      return;
    }
    grpc::ClientContext call;
    session_.Prepare(&call, request_id);
    std::vector<grpc::Status> statuses(rows.size());
    std::vector<id::RegisterSourceRecordResponse> responses(rows.size());
    if (input_.validate_only) {
      id::RegisterSourceRecordRequest request = rows[0]->request;
      *request.mutable_context() = *context;
      statuses[0] = session_.stub().RegisterSourceRecord(&call, request, &responses[0]);
    } else {
      SendBatch(&call, *context, rows, statuses, responses);
    }
    sent_ += static_cast<int>(rows.size());
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t k = 0; k < rows.size(); ++k) {
      Report(*rows[k], statuses[k], responses[k], request_id);
    }
  }

  // One RegisterSourceRecords call; each row's status and response.
  void SendBatch(grpc::ClientContext* call, const hie::common::v1::RequestContext& context,
                 const std::vector<const BulkRow*>& rows, std::vector<grpc::Status>& statuses,
                 std::vector<id::RegisterSourceRecordResponse>& responses) {
    id::RegisterSourceRecordsRequest request;
    *request.mutable_context() = context;
    for (const BulkRow* row : rows) *request.add_registrations() = row->request;
    id::RegisterSourceRecordsResponse out;
    grpc::Status status = session_.stub().RegisterSourceRecords(call, request, &out);
    if (status.ok() && out.results_size() != static_cast<int>(rows.size())) {
      status = grpc::Status(grpc::StatusCode::INTERNAL,
                            "the server answered a different number of results");
    }
    for (size_t k = 0; k < rows.size(); ++k) {
      if (!status.ok()) {
        statuses[k] = status;
        continue;
      }
      const id::RegisterSourceRecordResult& result = out.results(static_cast<int>(k));
      statuses[k] = grpc::Status(static_cast<grpc::StatusCode>(result.code()), result.message());
      responses[k] = result.response();
    }
  }

  // Counts and prints one row's answer; mu_ held.
  void Report(const BulkRow& row, const grpc::Status& status,
              const id::RegisterSourceRecordResponse& response, const std::string& request_id) {
    if (!status.ok()) {
      ++summary_.errors;
      std::cerr << "hiectl: line " << row.line << ": " << FormatSourceId(row.request.source_id())
                << ": " << hie::GrpcCodeName(status.error_code()) << ": " << status.error_message()
                << " (request id " << request_id << ")\n";
      if (ExitCodeForGrpcCode(status.error_code()) == 2) stop_ = true;
      return;
    }
    Count(response);
    if (session_.json()) {
      std::cout << "{\"line\":" << row.line << ",\"response\":" << ToJson(response) << "}\n";
      return;
    }
    std::cout << hie::PrintableText(RenderBulkRow(row.line, row.request, response),
                                    /*keep_newlines=*/true);
    for (const hie::common::v1::FieldWarning& warning : response.warnings()) {
      std::cerr << "hiectl: line " << row.line << ": warning: " << warning.field() << ": "
                << hie::PrintableText(warning.message()) << "\n";
    }
  }

  // mu_ held.
  void Count(const id::RegisterSourceRecordResponse& response) {
    if (response.created()) ++summary_.created;
    if (response.stale()) ++summary_.stale;
    switch (response.decision().outcome()) {
      case id::MATCH_OUTCOME_NEW_PERSON:
        ++summary_.new_person;
        break;
      case id::MATCH_OUTCOME_LINKED:
        ++summary_.linked;
        break;
      case id::MATCH_OUTCOME_REVIEW:
        ++summary_.review;
        break;
      case id::MATCH_OUTCOME_UNCHANGED:
        ++summary_.unchanged;
        break;
      default:
        break;
    }
  }

  Session& session_;
  const BulkInput input_;
  std::mutex mu_;  // guards summary_ and the output
  BulkSummary summary_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
};

// register --file.
int RegisterFile(Session& session) {
  absl::StatusOr<BulkInput> input = LoadBulkInput(session.config());
  if (!input.ok()) return Usage(input.status());
  if (absl::Status s = BuildContext(session.config(), "check").status(); !s.ok()) return Usage(s);
  if (!session.Connect()) return 2;
  return BulkRegistration(session, *std::move(input)).Run();
}

// Performs each kind of Action of the command table (commands.h); std::visit in Run needs one
// overload per alternative.
int Perform(Session& session, const HealthCheck& check) {
  return Health(session.config(), check, session.timeout(), session.json());
}
int Perform(Session& session, const BulkRegister&) { return RegisterFile(session); }
int Perform(Session& session, OutsideRecordsQuery& query) {
  return QueryOutsideRecords(session.config(), query, session.timeout(), session.json(),
                             session.NewId());
}
int Perform(Session& session, DocumentRetrieval& retrieval) {
  return RetrieveToFile(session.config(), retrieval, session.timeout(), session.json(),
                        session.NewId());
}
int Perform(Session& session, GlassBreak& glass) {
  return BreakTheGlass(session.config(), glass, session.timeout(), session.json(), session.NewId());
}
int Perform(Session& session, MemberConsentCall& call) {
  return CallMemberConsent(session.config(), call, session.timeout(), session.json(),
                           session.NewId());
}
int Perform(Session& session, DirectoryCall& call) {
  return CallDirectory(session.config(), call, session.timeout(), session.json(), session.NewId());
}
template <typename Req, typename Resp>
int Perform(Session& session, UnaryCall<Req, Resp>& call) {
  return session.Call(RpcOf<Req, Resp>(), call);
}

}  // namespace

int Run(const std::vector<std::string>& args, const char* const* envp) {
  // The hub takes the operator's user id from the certificate (its CN); --user may only repeat it.
  std::vector<CommandSpec> specs = CommandSpecs("");
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? std::cerr : std::cout) << GeneralUsage(specs);
    return args.empty() ? 2 : 0;
  }
  absl::StatusOr<FoundCommand> found = FindCommand(specs, args);
  if (!found.ok()) {
    std::cerr << "hiectl: " << found.status().message() << "\n\n" << GeneralUsage(specs);
    return 2;
  }
  const CommandSpec& spec = found->spec;
  std::vector<std::string> rest(args.begin() + found->words, args.end());
  SplitArgs split = SplitCommandLine(rest, spec.keys, spec.repeatable);
  absl::StatusOr<Config> config = LoadFlags(spec.keys, split.flags, envp, spec.own_keys);
  if (!config.ok()) {
    std::cerr << "hiectl " << spec.name << ": " << config.status().message() << " (hiectl "
              << spec.name << " --help lists the flags)\n";
    return 2;
  }
  if (config->help_requested()) {
    std::cout << CommandUsage(spec);
    return 0;
  }
  if (static_cast<int>(split.positionals.size()) != spec.positionals) {
    std::cerr
        << "hiectl " << spec.name << ": "
        << (split.positionals.size() > static_cast<size_t>(spec.positionals)
                ? absl::StrCat("unexpected argument '", split.positionals[spec.positionals], "'")
                : absl::StrCat("missing argument: usage: hiectl ", spec.name, " ", spec.synopsis))
        << "\n";
    return 2;
  }
  absl::StatusOr<absl::Duration> timeout = config->GetDuration("timeout");
  if (!timeout.ok()) return Usage(timeout.status());
  absl::StatusOr<bool> json = config->GetBool("json");
  if (!json.ok()) return Usage(json.status());
  absl::StatusOr<Action> action = spec.plan(*config, split.positionals);
  if (!action.ok()) return Usage(action.status());
  Session session(*std::move(config), *timeout, *json);
  return std::visit([&session](auto& what) { return Perform(session, what); }, *action);
}

}  // namespace hie::hiectl
