// Rendering of the locator and registry responses (declared in render.h).

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/text.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

namespace locator = ::hie::locator::v1;
namespace registry = ::hie::registry::v1;
namespace cm = ::hie::common::v1;

// Column widths (code points) of free text and long codes in tables.
constexpr size_t kTitleWidth = 40;
constexpr size_t kCodeWidth = 32;
constexpr size_t kUniqueIdWidth = 64;
constexpr size_t kCategoriesWidth = 40;
constexpr size_t kReasonWidth = 40;

// "11488-4 Consult note" (code, then display when there is one); empty when unset.
std::string CodingText(const cm::Coding& c) {
  if (c.display().empty()) return c.code();
  return absl::StrCat(c.code(), " ", c.display());
}

// "SYSTEM|CODE, ..." for key-value blocks.
template <typename Codings>
std::string CodingList(const Codings& codings) {
  std::vector<std::string> out;
  for (const cm::Coding& c : codings) out.push_back(absl::StrCat(c.system(), "|", c.code()));
  return absl::StrJoin(out, ", ");
}

// "12 shown", and the next page's flag.
std::string Footer(int shown, absl::string_view what, const std::string& next_page_token) {
  std::string out = absl::StrCat(shown, " ", what, "\n");
  if (!next_page_token.empty()) {
    absl::StrAppend(&out, "next page: --page-token=", next_page_token, " (or --all)\n");
  }
  return out;
}

std::string OriginList(const google::protobuf::RepeatedField<int>& origins) {
  std::vector<std::string> out;
  for (int o : origins) {
    out.push_back(EnumLabel(locator::LocationOrigin_Name(static_cast<locator::LocationOrigin>(o)),
                            "LOCATION_ORIGIN_"));
  }
  return Dash(absl::StrJoin(out, ", "));
}

// Data categories by code; empty means unknown, not none.
std::string Categories(const locator::RecordLocation& l) {
  if (l.data_categories_size() == 0) return "unknown";
  std::vector<std::string> codes;
  for (const cm::Coding& c : l.data_categories()) codes.push_back(c.code());
  return Truncate(absl::StrJoin(codes, ", "), kCategoriesWidth);
}

std::string RemovalLabel(locator::RemovalReason r) {
  return EnumLabel(locator::RemovalReason_Name(r), "REMOVAL_REASON_");
}

// The locations table; with `removals`, four more columns for removed locations.
std::string LocationsTable(const google::protobuf::RepeatedPtrField<locator::RecordLocation>& ls,
                           bool removals) {
  std::vector<std::string> headers = {"org",        "local id",       "documents",
                                      "categories", "last activity",  "first seen",
                                      "origins",    "identity record"};
  if (removals) headers.insert(headers.end(), {"removed", "removal", "by", "reason"});
  Table table(headers);
  table.RightAlign(2);
  for (const locator::RecordLocation& l : ls) {
    std::vector<std::string> row = {Dash(l.source_id().org()),
                                    Dash(l.source_id().local_id()),
                                    absl::StrCat(l.document_count()),
                                    Categories(l),
                                    FormatTime(l.last_activity_time()),
                                    FormatTime(l.first_seen_time()),
                                    OriginList(l.origins()),
                                    l.identity_record() ? "yes" : "no"};
    if (removals && l.has_removal()) {
      const locator::LocationRemoval& r = l.removal();
      row.insert(row.end(),
                 {FormatTime(r.remove_time()), RemovalLabel(r.reason_code()),
                  FormatActor(r.removed_by()), Dash(Truncate(r.reason(), kReasonWidth))});
    } else if (removals) {
      row.insert(row.end(), {"-", "-", "-", "-"});
    }
    table.AddRow(std::move(row));
  }
  return table.Render();
}

std::string StatusLabel(registry::AvailabilityStatus s) {
  return EnumLabel(registry::AvailabilityStatus_Name(s), "AVAILABILITY_STATUS_");
}

// "clinic-a/1.2.840.1" (member org / repository unique id), cut to the column.
std::string MemberRepository(const registry::DocumentLocation& l) {
  if (l.member_org().empty() && l.repository_unique_id().empty()) return "-";
  return Truncate(absl::StrCat(l.member_org(), "/", l.repository_unique_id()), kTitleWidth);
}

std::string EntriesTable(const google::protobuf::RepeatedPtrField<registry::DocumentEntry>& es) {
  Table table({"entry uuid", "unique id", "version", "status", "class", "type", "created",
               "member/repository", "size", "title"});
  table.RightAlign(2).RightAlign(8);
  for (const registry::DocumentEntry& e : es) {
    table.AddRow({Dash(e.entry_uuid()), Dash(Truncate(e.unique_id(), kUniqueIdWidth)),
                  absl::StrCat(e.version()), StatusLabel(e.status()),
                  Dash(Truncate(CodingText(e.class_code()), kCodeWidth)),
                  Dash(Truncate(CodingText(e.type_code()), kCodeWidth)),
                  FormatTime(e.creation_time()), MemberRepository(e.location()),
                  absl::StrCat(e.size_bytes()), Dash(Truncate(e.title(), kTitleWidth))});
  }
  return table.Render();
}

std::string AssociationLabel(registry::AssociationType t) {
  return EnumLabel(registry::AssociationType_Name(t), "ASSOCIATION_TYPE_");
}

std::string HashText(const registry::ContentHash& h) {
  if (h.digest().empty()) return "";
  return absl::StrCat(EnumLabel(registry::ContentHash::Algorithm_Name(h.algorithm()), "ALGORITHM_"),
                      " ", Hex(h.digest()));
}

}  // namespace

std::string Truncate(absl::string_view text, size_t max_width) {
  std::string printable = PrintableText(std::string_view(text.data(), text.size()));
  if (DisplayWidth(printable) <= max_width) return printable;
  size_t kept = 0;
  size_t end = 0;
  // Cut before the code point that would leave no room for the ellipsis.
  for (; end < printable.size(); ++end) {
    if ((static_cast<unsigned char>(printable[end]) & 0xC0) != 0x80 && kept++ == max_width - 1) {
      break;
    }
  }
  return absl::StrCat(printable.substr(0, end), "\u2026");
}

std::string RenderLocate(const locator::LocateResponse& r) {
  if (r.locations_size() == 0) return "no locations\n";
  return LocationsTable(r.locations(), false) + Footer(r.locations_size(), "locations", "");
}

std::string RenderLocations(const locator::ListLocationsResponse& r) {
  if (r.locations_size() == 0 && r.next_page_token().empty()) return "no locations\n";
  bool removals = false;
  for (const locator::RecordLocation& l : r.locations()) removals = removals || l.has_removal();
  return LocationsTable(r.locations(), removals) +
         Footer(r.locations_size(), "locations", r.next_page_token());
}

std::string RenderLocationDeleted(const locator::DeleteLocationRequest& request) {
  return absl::StrCat("location ", FormatSourceId(request.source_id()), " removed (",
                      RemovalLabel(request.reason_code()), ")\n");
}

std::string RenderDocuments(const registry::FindDocumentsResponse& r) {
  if (r.entries_size() == 0 && r.next_page_token().empty()) return "no entries\n";
  return EntriesTable(r.entries()) + Footer(r.entries_size(), "entries", r.next_page_token());
}

std::string RenderGetDocuments(const registry::GetDocumentsResponse& r) {
  if (r.entries_size() == 0) return "no entries\n";
  return EntriesTable(r.entries()) + Footer(r.entries_size(), "entries", "");
}

std::string RenderRelatedDocuments(const registry::GetRelatedDocumentsResponse& r) {
  if (r.associations_size() == 0) return "no associations\n";
  Table table({"type", "source", "target", "association"});
  for (const registry::Association& a : r.associations()) {
    table.AddRow(
        {AssociationLabel(a.type()), Dash(a.source()), Dash(a.target_entry_uuid()), Dash(a.id())});
  }
  std::string out = table.Render() + Footer(r.associations_size(), "associations", "");
  if (r.entries_size() > 0) {
    absl::StrAppend(&out, "\n", EntriesTable(r.entries()), Footer(r.entries_size(), "entries", ""));
  }
  return out;
}

std::string RenderDocumentEntry(const registry::DocumentEntry& e) {
  const registry::DocumentLocation& l = e.location();
  std::string service;
  if (e.has_service_start_time() || e.has_service_stop_time()) {
    service =
        absl::StrCat(FormatTime(e.service_start_time()), " .. ", FormatTime(e.service_stop_time()));
  }
  return KeyValues({{"entry uuid", e.entry_uuid()},
                    {"unique id", e.unique_id()},
                    {"logical id", e.logical_id()},
                    {"version", e.version() ? absl::StrCat(e.version()) : ""},
                    {"status", e.status() ? StatusLabel(e.status()) : ""},
                    {"patient", e.has_patient() ? FormatSourceId(e.patient()) : ""},
                    {"class", CodingText(e.class_code())},
                    {"type", CodingText(e.type_code())},
                    {"format", CodingText(e.format_code())},
                    {"mime type", e.mime_type()},
                    {"confidentiality", CodingList(e.confidentiality_codes())},
                    {"title", e.title()},
                    {"created", TimeOrEmpty(e.creation_time())},
                    {"service", service},
                    {"size", e.size_bytes() ? absl::StrCat(e.size_bytes(), " bytes") : ""},
                    {"hash", HashText(e.hash())},
                    {"member", l.member_org()},
                    {"repository", l.repository_unique_id()},
                    {"retrieve key", l.retrieve_key()},
                    {"submission set", e.submission_set_id()},
                    {"submitted", TimeOrEmpty(e.submission_time())},
                    {"deprecated", TimeOrEmpty(e.deprecate_time())},
                    {"replaced by", e.replaced_by_entry_uuid()}});
}

}  // namespace hie::hiectl
