#pragma once

// The registry's storage port. Implementations: InMemoryRegistryStore (tests) and, next,
// PgRegistryStore (schema `registry`); both must pass registry_store_contract.h.
//
// Model:
//  - document entries (one row per version of a document, keyed by entry_uuid; unique_id
//    unique), submission sets, associations; never deleted: deprecation changes an entry's
//    status, deprecate_time and replaced_by_entry_uuid only;
//  - a change feed of entries inserted or deprecated, in (version, entry_uuid) order: a change
//    gets its version after it commits, above every version already readable, so a reader
//    resuming from its last position misses nothing. The locator follows it (holdings learnt
//    from publications);
//  - idempotency records: a key's request fingerprint and stored response.
// Errors: UNAVAILABLE when the database cannot be reached; ABORTED on serialization conflicts
// (retry the whole transaction); DEADLINE_EXCEEDED. Messages carry ids only. Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/registry/v1/registry.pb.h"

namespace hie::registry {

struct StoredResponse {
  std::string fingerprint;  // bytes identifying the request
  std::string response;     // serialized response message
};

// Operations inside one transaction. Reads see the transaction's own writes.
class RegistryTxn {
 public:
  virtual ~RegistryTxn() = default;
  // Locks `key` until commit (concurrent requests with one key serialise), then reads it.
  virtual absl::StatusOr<std::optional<StoredResponse>> GetIdempotent(const std::string& key) = 0;
  virtual absl::Status PutIdempotent(const std::string& key, const StoredResponse& value) = 0;
  // Stored entries with these unique ids, by unique id.
  virtual absl::StatusOr<std::map<std::string, v1::DocumentEntry>> EntriesByUniqueId(
      const std::vector<std::string>& unique_ids) = 0;
  // Stored entries with these entry uuids, by entry uuid, each locked until commit (a second
  // transaction locking one waits, then reads what the first committed).
  virtual absl::StatusOr<std::map<std::string, v1::DocumentEntry>> LockEntries(
      const std::vector<std::string>& entry_uuids) = 0;
  // Stored associations whose source is one of these entries: (type, source, target).
  virtual absl::StatusOr<std::set<std::tuple<int, std::string, std::string>>> AssociationsFrom(
      const std::vector<std::string>& entry_uuids) = 0;
  // Inserts a submission set, its new entries and associations (ALREADY_EXISTS if an id or a
  // unique id is taken).
  virtual absl::Status Insert(const v1::SubmissionSet& set,
                              const std::vector<v1::DocumentEntry>& entries,
                              const std::vector<v1::Association>& associations) = 0;
  // Marks a stored entry DEPRECATED at `at`, replaced by `replaced_by` (may be empty).
  // NOT_FOUND if there is no such entry.
  virtual absl::Status Deprecate(const std::string& entry_uuid, absl::Time at,
                                 const std::string& replaced_by) = 0;
};

// FindDocuments' filters (hie.registry.v1.DocumentQuery, checked): every set field narrows;
// repeated fields match any of their values; codings compare by (system, code).
struct DocumentFilter {
  std::vector<common::v1::SourceId> patients;    // required, any of
  std::vector<v1::AvailabilityStatus> statuses;  // empty = APPROVED only
  std::vector<common::v1::Coding> class_codes, type_codes, format_codes, confidentiality_codes,
      event_codes, practice_setting_codes, facility_type_codes;
  // Half-open [from, before) ranges; an entry without the time does not match a range on it.
  std::optional<absl::Time> creation_from, creation_before;
  std::optional<absl::Time> service_start_from, service_start_before;
  std::optional<absl::Time> service_stop_from, service_stop_before;
  std::string author_institution;  // substring of an author's institution, ASCII case-folded
  size_t limit = 100;
  // At most this many of the patients' entries (in the status and creation range, past the
  // position) are read to fill the page; a page still unfilled beyond them is RESOURCE_EXHAUSTED
  // "too many results" (narrow the query), never an unbounded scan.
  size_t max_scanned = 20000;
  // Keyset position of the last entry of the previous page, in the order of FindDocuments.
  std::optional<std::pair<int64_t, std::string>> after;  // (creation time ns, entry_uuid)
};

// GetDocuments' keys: an entry is answered when any of them names it.
struct DocumentKeys {
  std::vector<std::string> entry_uuids;
  std::vector<std::string> unique_ids;
  // Entries whose location has this member_org and repository_unique_id and whose effective
  // retrieve key (RetrieveKeyOf) is this retrieve_key.
  std::vector<v1::DocumentLocation> locations;
};

// The key a member's RetrieveDocument takes for `e`: location.retrieve_key, or the entry's
// unique_id when the location gives none (the proto's default; registration fills it in, but
// entries registered before it did may lack it).
inline const std::string& RetrieveKeyOf(const v1::DocumentEntry& e) {
  return e.location().retrieve_key().empty() ? e.unique_id() : e.location().retrieve_key();
}

struct Related {
  std::vector<v1::Association> associations;  // from or to the entry, oldest first
  std::vector<v1::DocumentEntry> entries;     // at their other ends
};

// A position in the change feed: the (version, entry_uuid) of the last change read.
struct FeedPosition {
  int64_t version = 0;
  std::string entry_uuid;
};

struct EntryChange {
  FeedPosition position;
  v1::DocumentEntry entry;  // as it is now
  // The stored row did not parse (logged by id): `entry` is empty; a follower skips it but
  // moves past its position.
  bool unreadable = false;
};

class RegistryStore {
 public:
  virtual ~RegistryStore() = default;

  using TxnFn = std::function<absl::Status(RegistryTxn&)>;
  // Runs `fn` in one transaction; commits when it returns OK, rolls back otherwise (returning
  // its status). `fn` may run again after ABORTED: keep it free of outside effects.
  [[nodiscard]] virtual absl::Status Transact(absl::Time deadline, const TxnFn& fn) = 0;

  // Entries matching `filter`, newest creation_time first, then entry_uuid descending; at most
  // filter.limit of them.
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::DocumentEntry>> FindDocuments(
      absl::Time deadline, const DocumentFilter& filter) = 0;
  // Entries named by any of `keys` (unknown ones absent), each once, in no set order.
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::DocumentEntry>> GetDocuments(
      absl::Time deadline, const DocumentKeys& keys) = 0;
  // NOT_FOUND when the entry is unknown.
  [[nodiscard]] virtual absl::StatusOr<Related> GetRelated(absl::Time deadline,
                                                           const std::string& entry_uuid) = 0;
  // Entries changed (inserted or deprecated) after `after`, in (version, entry_uuid) order, at
  // most `limit` (a page may end inside a version: resume from its last position). Each entry
  // appears once, at the version of its latest change.
  [[nodiscard]] virtual absl::StatusOr<std::vector<EntryChange>> ChangesSince(
      absl::Time deadline, const FeedPosition& after, size_t limit) = 0;
};

}  // namespace hie::registry
