#pragma once

// hiectl's pure core: the command table, command-line splitting, flag -> request building,
// CSV parsing for bulk registration and deterministic idempotency keys. No gRPC calls here;
// every function is deterministic given its inputs (randomness is passed in by the caller).
//
// Validation errors are INVALID_ARGUMENT and name the flag ("--birth-date ...") or, for CSV
// rows, the line and column ("line 7: birth_date ...") so the operator knows what to fix.
//
// Implemented in commands.cc (the table and the identity commands' flags and request builders,
// kept in one file so that each command's flags and the request they build read side by side),
// audit_commands.cc, consent_commands.cc and exchange_commands.cc (the audit, consent, locator
// and registry commands, registered in the same table; see audit_commands.h), flag_values.cc (flag
// parsing shared by the command files) and bulk_csv.cc (the CSV reader and rows -> registrations).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "hie/audit/v1/audit.pb.h"
#include "hie/common/v1/common.pb.h"
#include "hie/consent/v1/consent.pb.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "hie/identity/v1/identity.pb.h"
#include "hie/locator/v1/locator.pb.h"
#include "hie/registry/v1/registry.pb.h"
#include "services/common/config.h"
#include "services/common/demographics.h"

namespace hie::hiectl {

namespace id = ::hie::identity::v1;
namespace audit = ::hie::audit::v1;
namespace consent = ::hie::consent::v1;
namespace locator = ::hie::locator::v1;
namespace registry = ::hie::registry::v1;

// --- The command table --------------------------------------------------------------------------
// Each command is declared once, in CommandSpecs: its name, usage text, flags and its plan, the
// pure function that turns the checked flags into an Action. `hiectl --help`, flag checking and
// dispatch all read that table; the adapter (cli.cc) only knows how to perform each kind of
// Action (and, per identity RPC, which stub method sends its request).

// One RPC (identity, audit, consent, locator or registry): the request (context unset; an empty
// idempotency key means "generate one") and how to print its response as text (--json prints the
// message).
template <typename Req, typename Resp>
struct UnaryCall {
  Req request;
  std::function<std::string(const Resp&)> render;
  // Unset: the context's purpose and user come from the session flags --purpose and --user
  // (identity commands). Set (audit and consent commands, whose --purpose and --user are their
  // own filters or fields): the context has this purpose and no user (the server names the
  // certificate's holder).
  std::optional<hie::common::v1::PurposeOfUse> context_purpose;
  // Set (`consent decide --recipient`): the context's actor, i.e. the recipient a decision is
  // for. Only a delegating service's certificate (the gateway's) may name one; a privacy
  // officer's call is decided for the officer.
  std::optional<hie::common::v1::Actor> context_actor;
  // Follow next_page_token until the last page and print all pages as one response (--all).
  bool all_pages = false;
  // Judges an OK response: a non-empty message means the answer is itself an alarm (audit
  // verify: the chain is not VALID). The adapter prints the response, then the message on
  // stderr, and exits with kAlarmExitCode.
  std::function<std::string(const Resp&)> alarm;
  // Print the request's idempotency key (given or generated) on stderr before sending, so that
  // the operator can retry the write safely whatever happens to the call.
  bool print_idempotency_key = false;
};

// Exit status of a command whose answer is an alarm (see UnaryCall::alarm).
inline constexpr int kAlarmExitCode = 3;

// A call of the audit and consent commands (the privacy officer's): context purpose OPERATIONS,
// user from the certificate (see UnaryCall::context_purpose).
template <typename Req, typename Resp>
UnaryCall<Req, Resp> PrivacyOfficeCall(Req request,
                                       std::function<std::string(const Resp&)> render) {
  UnaryCall<Req, Resp> call{std::move(request), std::move(render)};
  call.context_purpose = hie::common::v1::PURPOSE_OF_USE_OPERATIONS;
  return call;
}

// `health`: grpc.health.v1.Health/Check of `service` (empty: the whole server).
struct HealthCheck {
  std::string service;
};

// `register --file`: bulk registration of the CSV file named by --file; the adapter reads the
// file and the bulk flags (--parallel, --encoding, --validate-only) itself.
struct BulkRegister {};

// `outside-records`: the gateway's FindOutsideRecords (a stream), printed member by member as
// the answers arrive, then the summary (gateway_commands.h).
struct OutsideRecordsQuery {
  hie::gateway::v1::FindOutsideRecordsRequest request;  // context: purpose, user, role set
};

// `retrieve`: the gateway's RetrieveDocument into the file `out` (written whole or not at all:
// a temporary file renamed once size and SHA-256 are checked against the header).
struct DocumentRetrieval {
  hie::gateway::v1::RetrieveDocumentRequest request;
  std::string out;
};

// `break-glass`: the gateway's BreakGlass for a clinician (a member's certificate).
struct GlassBreak {
  hie::gateway::v1::BreakGlassRequest request;  // idempotency_key empty: the request id
};

// `members ...`: one call to the gateway's member directory (AdminGateway).
struct DirectoryCall {
  std::variant<hie::gateway::v1::ListMembersRequest, hie::gateway::v1::GetMemberRequest,
               hie::gateway::v1::PutMemberRequest, hie::gateway::v1::SetMemberStateRequest>
      request;
};

// `patient-consent ...`: one call to the gateway's consent RPCs for the caller's own patients
// (MemberGateway, a member's certificate); an empty idempotency key becomes the request id.
struct MemberConsentCall {
  std::variant<hie::gateway::v1::CreateConsentDirectiveRequest,
               hie::gateway::v1::ListConsentDirectivesRequest,
               hie::gateway::v1::RevokeConsentDirectiveRequest>
      request;
};

// What running a command amounts to. A command over an RPC not listed here needs a new
// alternative (and, in cli.cc, the RPC's stub method); the compiler points at both.
using Action = std::variant<
    HealthCheck, BulkRegister, OutsideRecordsQuery, DocumentRetrieval, DirectoryCall, GlassBreak,
    MemberConsentCall, UnaryCall<id::RegisterSourceRecordRequest, id::RegisterSourceRecordResponse>,
    UnaryCall<id::ResolveRequest, id::ResolveResponse>,
    UnaryCall<id::SearchPersonsRequest, id::SearchPersonsResponse>,
    UnaryCall<id::ListReviewTasksRequest, id::ListReviewTasksResponse>,
    UnaryCall<id::GetReviewTaskRequest, id::ReviewTask>,
    UnaryCall<id::ResolveReviewTaskRequest, id::ResolveReviewTaskResponse>,
    UnaryCall<id::LinkRecordRequest, id::LinkRecordResponse>,
    UnaryCall<id::UnlinkRecordRequest, id::UnlinkRecordResponse>,
    UnaryCall<id::MergePersonsRequest, id::MergePersonsResponse>,
    UnaryCall<id::UnmergePersonsRequest, id::UnmergePersonsResponse>,
    UnaryCall<id::GetPersonRequest, id::Person>,
    UnaryCall<id::GetSourceRecordRequest, id::SourceRecord>,
    UnaryCall<id::GetHistoryRequest, id::GetHistoryResponse>,
    // hie-audit (audit_commands.cc)
    UnaryCall<audit::SearchEventsRequest, audit::SearchEventsResponse>,
    UnaryCall<audit::GetAccountingOfDisclosuresRequest, audit::GetAccountingOfDisclosuresResponse>,
    UnaryCall<audit::VerifyRequest, audit::VerifyResult>,
    UnaryCall<audit::ListCheckpointsRequest, audit::ListCheckpointsResponse>,
    UnaryCall<audit::CreateCheckpointRequest, audit::Checkpoint>,
    UnaryCall<audit::ListSigningKeysRequest, audit::ListSigningKeysResponse>,
    // hie-consent (consent_commands.cc)
    UnaryCall<consent::CreateDirectiveRequest, consent::ConsentDirective>,
    UnaryCall<consent::ListDirectivesRequest, consent::ListDirectivesResponse>,
    UnaryCall<consent::RevokeDirectiveRequest, consent::ConsentDirective>,
    UnaryCall<consent::ListBreakGlassGrantsRequest, consent::ListBreakGlassGrantsResponse>,
    UnaryCall<consent::ReviewBreakGlassRequest, consent::BreakGlassGrant>,
    UnaryCall<consent::DecideRequest, consent::Decision>,
    // hie-locator and hie-registry (exchange_commands.cc)
    UnaryCall<locator::LocateRequest, locator::LocateResponse>,
    UnaryCall<locator::ListLocationsRequest, locator::ListLocationsResponse>,
    UnaryCall<locator::DeleteLocationRequest, locator::DeleteLocationResponse>,
    UnaryCall<registry::FindDocumentsRequest, registry::FindDocumentsResponse>,
    UnaryCall<registry::GetDocumentsRequest, registry::GetDocumentsResponse>,
    UnaryCall<registry::GetRelatedDocumentsRequest, registry::GetRelatedDocumentsResponse>,
    UnaryCall<registry::DeprecateDocumentRequest, registry::DocumentEntry>>;

// Builds a command's Action from its loaded flags and its positional arguments (as many as
// CommandSpec::positionals). Pure; bad input is INVALID_ARGUMENT naming the flag.
using Plan = std::function<absl::StatusOr<Action>(const Config& flags,
                                                  const std::vector<std::string>& positionals)>;

// One hiectl command ("resolve", "review show", ...).
struct CommandSpec {
  std::string name;      // as typed: "review list"
  std::string synopsis;  // arguments after the name, for usage text
  std::string summary;   // one line for `hiectl --help`
  int positionals = 0;   // exact number of positional arguments (e.g. TASK_ID)
  std::vector<ConfigKey> keys;
  Plan plan;
  // Keys that may be given several times: SplitCommandLine joins their values with
  // kRepeatSeparator (`--actor-org a --actor-org b` reads as one value "a<sep>b").
  std::vector<std::string> repeatable = {};
  // Keys named like session settings (IsEnvironmentKey) that are this command's own
  // per-operation flags, e.g. audit search's --purpose and --user filters: never read from the
  // environment.
  std::vector<std::string> own_keys = {};
};

// Joins the values of a repeated repeatable flag; no operator types it.
inline constexpr char kRepeatSeparator = '\x1f';

// Every command, in the order `hiectl --help` lists them. `default_user` is the default of
// --user (the caller passes $USER); `now` is the time relative defaults are taken from (audit
// search's --since, a directive's --from).
std::vector<CommandSpec> CommandSpecs(const std::string& default_user,
                                      absl::Time now = absl::Now());

// The session flags every command starts with: --target (default `default_target`), the TLS
// files (the client certificate var/certs/<cert_name>.pem and .key), --timeout and --json.
std::vector<ConfigKey> SessionKeys(absl::string_view default_target, absl::string_view cert_name);

// The spec whose name is `args[0]` or `args[0] args[1]` (for "review ..."), and how many of
// `args` the name used. NOT_FOUND names the unknown command: "unknown command 'frobnicate'".
struct FoundCommand {
  CommandSpec spec;
  int words = 0;
};
[[nodiscard]] absl::StatusOr<FoundCommand> FindCommand(const std::vector<CommandSpec>& specs,
                                                       const std::vector<std::string>& args);

// `hiectl --help` text: the command list.
std::string GeneralUsage(const std::vector<CommandSpec>& specs);
// `hiectl COMMAND --help` text: synopsis and every flag.
std::string CommandUsage(const CommandSpec& spec);

// Separates positional arguments from flags. A key whose default is "false" is boolean: a bare
// `--explain` becomes `--explain=true` (Config would otherwise take the next argument as its
// value). Any other `--key` without `=` consumes the next argument as its value. `--help`/`-h`
// pass through.
struct SplitArgs {
  std::vector<std::string> positionals;
  std::vector<std::string> flags;  // ready for Config::Load (without a program name)
};
// Repeated keys listed in `repeatable` are joined into one `--key=v1<kRepeatSeparator>v2`; any
// other repeated key keeps its last value.
SplitArgs SplitCommandLine(const std::vector<std::string>& args, const std::vector<ConfigKey>& keys,
                           const std::vector<std::string>& repeatable = {});

// Loads `flags` (as from SplitCommandLine) against `keys`, with environment `envp`
// (null-terminated, may be null). Only the session settings may come from the environment
// (IsEnvironmentKey); per-operation flags never do, so that a stray HIE_STATE or HIE_ORG in the
// shell cannot silently change a registration or a filter.
// target, tls-ca, tls-cert, tls-key, timeout, json, purpose, user; keys in `own_keys`
// (CommandSpec::own_keys) never come from the environment.
bool IsEnvironmentKey(absl::string_view key);
[[nodiscard]] absl::StatusOr<Config> LoadFlags(const std::vector<ConfigKey>& keys,
                                               const std::vector<std::string>& flags,
                                               const char* const* envp,
                                               const std::vector<std::string>& own_keys = {});

// --- Values -----------------------------------------------------------------------------------

// "treatment", "payment", "operations", "emergency", "public-health", "research",
// "patient-request" (also "care-coordination", "legal", "system-administration"; '_' may stand
// for '-'). INVALID_ARGUMENT naming --purpose otherwise.
[[nodiscard]] absl::StatusOr<hie::common::v1::PurposeOfUse> ParsePurpose(absl::string_view text);
// "female", "male", "other", "unknown"; empty = unspecified. `what` names the flag or column.
[[nodiscard]] absl::StatusOr<hie::common::v1::Sex> ParseSex(absl::string_view text,
                                                            absl::string_view what);
// "YYYY-MM-DD", "YYYY-MM" or "YYYY", a real calendar date. Empty is OK.
[[nodiscard]] absl::Status ValidateBirthDate(absl::string_view text, absl::string_view what);
// Rewrites the date layouts EMR exports commonly use into YYYY-MM-DD: YYYYMMDD and US-style
// M/D/YYYY (also with '.' or '-' between parts). Anything else is returned unchanged, for
// ValidateBirthDate to judge.
std::string NormalizeBirthDate(absl::string_view text);
// RFC 3339 ("2026-11-22T02:00:00Z").
[[nodiscard]] absl::StatusOr<google::protobuf::Timestamp> ParseTimestamp(absl::string_view text,
                                                                         absl::string_view what);

// Demographic inputs by CSV column name ("given_name", "birth_date", ...). Missing = empty.
using DemographicFields = std::map<std::string, std::string, std::less<>>;

// The CSV columns understood by `register --file`, in canonical order.
const std::vector<std::string>& CsvColumns();

// Builds Demographics from fields. `flag_style` names errors as flags ("--birth-date") instead
// of columns ("birth_date").
[[nodiscard]] absl::StatusOr<hie::common::v1::Demographics> BuildDemographics(
    const DemographicFields& fields, bool flag_style);

// --- Ids --------------------------------------------------------------------------------------

// A random 128-bit id as 32 lower-case hex digits in UUID layout (8-4-4-4-12), version 4.
std::string RandomId(std::mt19937_64& rng);

// The idempotency key of one bulk row: "hiectl-csv-" + 32 hex digits of SHA-256 over (org,
// local_id, every column value in canonical order). Same row content = same key, whatever the
// column order or quoting in the file; no patient data appears in the key.
std::string BulkIdempotencyKey(const DemographicFields& row);

// --- Requests ---------------------------------------------------------------------------------
// Builders read the flags of their CommandSpec. They leave `context` unset; an empty
// idempotency_key means "generate one" (the caller does, with RandomId).

[[nodiscard]] absl::StatusOr<hie::common::v1::RequestContext> BuildContext(
    const Config& flags, const std::string& request_id);

[[nodiscard]] absl::StatusOr<id::RegisterSourceRecordRequest> BuildRegisterRequest(
    const Config& flags);
[[nodiscard]] absl::StatusOr<id::ResolveRequest> BuildResolveRequest(const Config& flags);
[[nodiscard]] absl::StatusOr<id::SearchPersonsRequest> BuildSearchRequest(const Config& flags);
[[nodiscard]] absl::StatusOr<id::ListReviewTasksRequest> BuildListReviewTasksRequest(
    const Config& flags);
[[nodiscard]] absl::StatusOr<id::GetReviewTaskRequest> BuildGetReviewTaskRequest(
    const std::vector<std::string>& positionals);
[[nodiscard]] absl::StatusOr<id::ResolveReviewTaskRequest> BuildResolveReviewTaskRequest(
    const Config& flags, const std::vector<std::string>& positionals);
[[nodiscard]] absl::StatusOr<id::LinkRecordRequest> BuildLinkRequest(const Config& flags);
[[nodiscard]] absl::StatusOr<id::UnlinkRecordRequest> BuildUnlinkRequest(const Config& flags);
[[nodiscard]] absl::StatusOr<id::MergePersonsRequest> BuildMergeRequest(const Config& flags);
[[nodiscard]] absl::StatusOr<id::UnmergePersonsRequest> BuildUnmergeRequest(const Config& flags);
[[nodiscard]] absl::StatusOr<id::GetPersonRequest> BuildGetPersonRequest(
    const Config& flags, const std::vector<std::string>& positionals);
[[nodiscard]] absl::StatusOr<id::GetSourceRecordRequest> BuildGetSourceRecordRequest(
    const Config& flags);
[[nodiscard]] absl::StatusOr<id::GetHistoryRequest> BuildGetHistoryRequest(const Config& flags);

// --- CSV (register --file) --------------------------------------------------------------------

// One CSV record and the line it starts on (1-based; a quoted field may span lines).
struct CsvRecord {
  int line = 0;
  std::vector<std::string> fields;
};

// RFC 4180: comma-separated, fields optionally in double quotes ("" is a quote inside), quoted
// fields may hold commas and newlines, CRLF or LF line ends, blank lines skipped. INVALID_ARGUMENT
// with the line number for an unterminated quote or text after a closing quote.
[[nodiscard]] absl::StatusOr<std::vector<CsvRecord>> ParseCsv(absl::string_view text);

// A parsed bulk file: the requests built from good rows and the errors of bad ones.
struct BulkRow {
  int line = 0;
  id::RegisterSourceRecordRequest request;  // context unset; idempotency_key set
};
struct BulkRowError {
  int line = 0;
  std::string message;  // "line 7: birth_date must be ..."
};
struct BulkFile {
  std::vector<BulkRow> rows;
  std::vector<BulkRowError> errors;
};

// How the bytes of a CSV file encode text. EMR exports are often Windows-1252 or Latin-1
// (which differ only at 0x80-0x9F: Windows-1252's quotes, dashes, euro sign; Latin-1's C1
// controls, which are refused).
enum class CsvEncoding { kUtf8, kLatin1, kWindows1252 };
// "utf-8" / "utf8", "latin1" / "iso-8859-1" or "windows-1252" / "cp1252"; INVALID_ARGUMENT
// naming `what` otherwise.
[[nodiscard]] absl::StatusOr<CsvEncoding> ParseCsvEncoding(absl::string_view text,
                                                           absl::string_view what);

// The first record is the header: every column must be one of CsvColumns() or record_id, which
// is ignored (hie-mpi's format); unknown or
// duplicate columns are an error for the whole file, so a typo never drops data); org and
// local_id are required columns. Each later record becomes a BulkRow or a BulkRowError (wrong
// number of fields, missing org/local_id, invalid value, a cell that is not valid in
// `encoding` or holds control characters: the error names the line and the column, never the
// value). Latin-1 and Windows-1252 files are transcoded to UTF-8. SSNs are passed on as written:
// the hub normalises the forms clinics use and, rather than refuse the row, drops one it cannot use
// and says so in the response's warnings.
[[nodiscard]] absl::StatusOr<BulkFile> ParseBulkFile(absl::string_view text,
                                                     CsvEncoding encoding = CsvEncoding::kUtf8);

// --- Exit status ------------------------------------------------------------------------------

// 2 when no answer came from the server (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED), 1 for any
// other error the server returned, 0 for OK. `code` is a grpc::StatusCode value.
int ExitCodeForGrpcCode(int code);

}  // namespace hie::hiectl
