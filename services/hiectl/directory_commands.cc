#include "services/hiectl/directory_commands.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/hiectl/flag_values.h"
#include "services/hiectl/gateway_commands.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

namespace cm = ::hie::common::v1;
namespace gv1 = ::hie::gateway::v1;

// Staff calls: the certificate says who; the purpose is system administration.
cm::ClientContext StaffContext() {
  cm::ClientContext c;
  c.set_purpose_of_use(cm::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  return c;
}

std::vector<ConfigKey> DirectoryKeys() { return SessionKeys(kGatewayTarget, "admin"); }

absl::StatusOr<gv1::MemberState> StateFrom(const Config& flags) {
  HIE_ASSIGN_OR_RETURN(int state, EnumFromLabel(gv1::MemberState_descriptor(), "MEMBER_STATE_",
                                                flags.Get("state"), "state"));
  return static_cast<gv1::MemberState>(state);
}

absl::StatusOr<int64_t> ExpectedVersion(const Config& flags) {
  int64_t version = 0;
  if (!absl::SimpleAtoi(flags.Get("expected-version"), &version) || version < 0) {
    return Invalid("--expected-version must be a version number (0: create, or any)");
  }
  return version;
}

std::string StateLabel(gv1::MemberState s) {
  return EnumLabel(gv1::MemberState_Name(s), "MEMBER_STATE_");
}
std::string CircuitLabel(gv1::CircuitState s) {
  return EnumLabel(gv1::CircuitState_Name(s), "CIRCUIT_STATE_");
}
std::string Or(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace

absl::StatusOr<gv1::ListMembersRequest> BuildListMembersRequest(const Config& flags) {
  gv1::ListMembersRequest r;
  *r.mutable_context() = StaffContext();
  HIE_ASSIGN_OR_RETURN(auto states, EnumList<gv1::MemberState>(flags, "state", "MEMBER_STATE_"));
  for (gv1::MemberState s : states) r.add_states(s);
  HIE_ASSIGN_OR_RETURN(int32_t page_size, PageSize(flags, 1000));
  r.set_page_size(page_size);
  r.set_page_token(flags.Get("page-token"));
  return r;
}

absl::StatusOr<gv1::PutMemberRequest> BuildPutMemberRequest(const Config& flags) {
  for (const char* key : {"org", "endpoint", "display-name", "reason"}) {
    HIE_RETURN_IF_ERROR(Require(flags, key));
  }
  gv1::PutMemberRequest r;
  *r.mutable_context() = StaffContext();
  gv1::Member& m = *r.mutable_member();
  m.set_org(flags.Get("org"));
  m.set_endpoint(flags.Get("endpoint"));
  m.set_display_name(flags.Get("display-name"));
  HIE_ASSIGN_OR_RETURN(gv1::MemberState state, StateFrom(flags));
  m.set_state(state);
  HIE_ASSIGN_OR_RETURN(int32_t max_results, IntInRange(flags, "max-results", 1, 1000));
  m.set_max_results(max_results);
  HIE_ASSIGN_OR_RETURN(bool time_filters, flags.GetBool("time-filters"));
  m.set_supports_time_filters(time_filters);
  for (const std::string& subject : RepeatedValues(flags, "certificate-subject")) {
    m.add_certificate_subjects(subject);
  }
  HIE_ASSIGN_OR_RETURN(int64_t version, ExpectedVersion(flags));
  r.set_expected_version(version);
  r.set_reason(flags.Get("reason"));
  return r;
}

absl::StatusOr<gv1::SetMemberStateRequest> BuildSetMemberStateRequest(const Config& flags,
                                                                      const std::string& org) {
  HIE_RETURN_IF_ERROR(Require(flags, "state"));
  HIE_RETURN_IF_ERROR(Require(flags, "reason"));
  gv1::SetMemberStateRequest r;
  *r.mutable_context() = StaffContext();
  r.set_org(org);
  HIE_ASSIGN_OR_RETURN(gv1::MemberState state, StateFrom(flags));
  r.set_state(state);
  r.set_reason(flags.Get("reason"));
  HIE_ASSIGN_OR_RETURN(int64_t version, ExpectedVersion(flags));
  r.set_expected_version(version);
  return r;
}

std::string RenderMembers(const gv1::ListMembersResponse& response) {
  if (response.members().empty()) return "no members\n";
  Table table({"org", "state", "endpoint", "max", "time filters", "circuit", "version", "name"});
  table.RightAlign(3).RightAlign(6);
  for (const gv1::Member& m : response.members()) {
    table.AddRow({Truncate(m.org(), 32), StateLabel(m.state()), Truncate(m.endpoint(), 40),
                  absl::StrCat(m.max_results()), m.supports_time_filters() ? "yes" : "no",
                  CircuitLabel(m.circuit_state()), absl::StrCat(m.version()),
                  Truncate(m.display_name(), 32)});
  }
  std::string out = table.Render();
  if (!response.next_page_token().empty()) {
    absl::StrAppend(&out, "next page: --page-token=", PrintableText(response.next_page_token()),
                    "\n");
  }
  return out;
}

std::string RenderMember(const gv1::Member& m) {
  return KeyValues(
      {{"org", m.org()},
       {"name", Or(m.display_name())},
       {"state", StateLabel(m.state())},
       {"endpoint", Or(m.endpoint())},
       {"max results", absl::StrCat(m.max_results())},
       {"time filters", m.supports_time_filters() ? "supported" : "applied by the hub"},
       {"certificates", Or(absl::StrJoin(m.certificate_subjects(), "; "))},
       {"circuit", CircuitLabel(m.circuit_state())},
       {"last success", m.has_last_success_time() ? FormatTime(m.last_success_time()) : "-"},
       {"last failure", m.has_last_failure_time() ? FormatTime(m.last_failure_time()) : "-"},
       {"version", absl::StrCat(m.version())},
       {"updated", m.has_update_time() ? FormatTime(m.update_time()) : "-"}});
}

void AddDirectoryCommands(std::vector<CommandSpec>& specs) {
  {
    std::vector<ConfigKey> keys = DirectoryKeys();
    keys.push_back(
        {"state", "", "only members in these states (active, suspended, decommissioned)"});
    keys.push_back({"page-size", "0", "members per page (1-1000; default 100)"});
    keys.push_back({"page-token", "", "page to fetch (printed under the previous page)"});
    specs.push_back(
        {"members list", "[--state S]", "the HIE's members and their health (gateway)", 0, keys,
         [](const Config& flags, const std::vector<std::string>&) -> absl::StatusOr<Action> {
           HIE_ASSIGN_OR_RETURN(auto request, BuildListMembersRequest(flags));
           return DirectoryCall{std::move(request)};
         }});
  }
  specs.push_back(
      {"members show", "ORG_ID", "one member of the HIE (gateway)", 1, DirectoryKeys(),
       [](const Config&, const std::vector<std::string>& args) -> absl::StatusOr<Action> {
         gv1::GetMemberRequest request;
         *request.mutable_context() = StaffContext();
         request.set_org(args[0]);
         return DirectoryCall{std::move(request)};
       }});
  {
    std::vector<ConfigKey> keys = DirectoryKeys();
    keys.push_back({"org", "", "the member's organisation id (required)"});
    keys.push_back({"endpoint", "", "its MemberEndpoint, host:port (required)"});
    keys.push_back({"display-name", "", "its name as people read it (required)"});
    keys.push_back({"state", "active", "active or suspended"});
    keys.push_back({"max-results", "1000", "documents per request it accepts (1-1000)"});
    keys.push_back({"time-filters", "true", "whether its endpoint applies time ranges"});
    keys.push_back({"certificate-subject", "", "a certificate subject of the org (repeatable)"});
    keys.push_back({"expected-version", "0", "0 creates; N replaces version N"});
    keys.push_back({"reason", "", "why (required; on the audit record)"});
    specs.push_back(
        {"members put",
         "--org O --endpoint H:P --display-name N --reason R [--expected-version N]",
         "add a member, or replace one (gateway; administrators)",
         0,
         keys,
         [](const Config& flags, const std::vector<std::string>&) -> absl::StatusOr<Action> {
           HIE_ASSIGN_OR_RETURN(auto request, BuildPutMemberRequest(flags));
           return DirectoryCall{std::move(request)};
         },
         {"certificate-subject"}});
  }
  {
    std::vector<ConfigKey> keys = DirectoryKeys();
    keys.push_back({"state", "", "active, suspended or decommissioned (required)"});
    keys.push_back({"reason", "", "why (required; on the audit record)"});
    keys.push_back({"expected-version", "0", "only if the member is at this version (0: any)"});
    specs.push_back(
        {"members set-state", "ORG_ID --state S --reason R",
         "suspend, reactivate or decommission a member (gateway; administrators)", 1, keys,
         [](const Config& flags, const std::vector<std::string>& args) -> absl::StatusOr<Action> {
           HIE_ASSIGN_OR_RETURN(auto request, BuildSetMemberStateRequest(flags, args[0]));
           return DirectoryCall{std::move(request)};
         }});
  }
}

}  // namespace hie::hiectl
