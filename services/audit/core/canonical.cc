#include "services/audit/core/canonical.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hie::audit {
namespace {

constexpr std::string_view kEventMagic("HIE-AUDIT-EVENT\0", 16);
constexpr std::string_view kCheckpointMagic("HIE-AUDIT-CHKPT\0", 16);

class Writer {
 public:
  explicit Writer(size_t reserve) { out_.reserve(reserve); }
  void Raw(std::string_view s) { out_.append(s); }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<char>(v >> shift));
  }
  void I64(int64_t v) {
    auto u = static_cast<uint64_t>(v);
    for (int shift = 56; shift >= 0; shift -= 8) out_.push_back(static_cast<char>(u >> shift));
  }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  size_t offset() const { return pos_; }
  bool AtEnd() const { return pos_ == in_.size(); }
  std::string_view Raw(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) return Fail();
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  uint8_t U8() {
    std::string_view s = Raw(1);
    return s.empty() ? 0 : static_cast<uint8_t>(s[0]);
  }
  uint32_t U32() {
    std::string_view s = Raw(4);
    uint32_t v = 0;
    for (char c : s) v = (v << 8) | static_cast<uint8_t>(c);
    return v;
  }
  int64_t I64() {
    std::string_view s = Raw(8);
    uint64_t v = 0;
    for (char c : s) v = (v << 8) | static_cast<uint8_t>(c);
    return static_cast<int64_t>(v);
  }
  std::string Str() { return std::string(Raw(U32())); }
  // A count of items of at least `min_item_bytes` each: refused when the rest cannot hold them
  // (so a corrupt count cannot make the decoder allocate or loop beyond its input).
  uint32_t Count(size_t min_item_bytes) {
    uint32_t n = U32();
    if (ok_ && n > (in_.size() - pos_) / min_item_bytes) {
      Fail();
      return 0;
    }
    return n;
  }

 private:
  std::string_view Fail() {
    ok_ = false;
    return {};
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void SetTimestampFromNanos(int64_t nanos, google::protobuf::Timestamp* t) {
  if (nanos == 0) return;
  int64_t seconds = nanos / 1'000'000'000;
  int64_t rest = nanos % 1'000'000'000;
  if (rest < 0) {
    rest += 1'000'000'000;
    --seconds;
  }
  t->set_seconds(seconds);
  t->set_nanos(static_cast<int32_t>(rest));
}

std::string Encode(const v1::AuditEvent& e, int64_t sequence, int64_t record_time_ns) {
  Writer w(256 + e.action().size() + e.details_size() * 32 + e.patients_size() * 32);
  w.Raw(kEventMagic);
  w.U8(kEventEncodingVersion);
  w.I64(sequence);
  w.I64(record_time_ns);
  w.Str(e.event_id());
  w.I64(TimestampNanos(e.event_time()));
  w.U32(static_cast<uint32_t>(e.type()));
  w.Str(e.action());
  w.U32(static_cast<uint32_t>(e.outcome()));
  w.Str(e.status_code());
  w.Str(e.actor().org());
  w.Str(e.actor().user_id());
  w.U32(static_cast<uint32_t>(e.actor().role()));
  w.U32(static_cast<uint32_t>(e.purpose_of_use()));
  w.Str(e.request_id());
  w.Str(e.client_request_id());
  w.U32(static_cast<uint32_t>(e.patients_size()));
  for (const auto& p : e.patients()) {
    w.Str(p.org());
    w.Str(p.local_id());
  }
  w.Str(e.person_id());
  w.Str(e.custodian_org());
  w.Str(e.recipient_org());
  w.U32(static_cast<uint32_t>(e.objects_size()));
  for (const auto& o : e.objects()) {
    w.Str(o.kind());
    w.Str(o.id());
  }
  w.Str(e.decision_id());
  w.Str(e.directive_id());
  w.Str(e.break_glass_id());
  w.Str(e.source_service());
  w.Str(e.caller_subject());
  w.Str(e.network_address());
  std::vector<std::pair<std::string_view, std::string_view>> details(e.details().begin(),
                                                                    e.details().end());
  std::sort(details.begin(), details.end());
  w.U32(static_cast<uint32_t>(details.size()));
  for (const auto& [key, value] : details) {
    w.Str(key);
    w.Str(value);
  }
  return w.Take();
}

}  // namespace

std::string Sha256(std::string_view a, std::string_view b) {
  // One fetched digest for the process and one context per thread: EVP_Digest's implicit fetch
  // and context allocation per call would cost more than hashing a few hundred bytes.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  std::string out(kHashSize, '\0');
  unsigned int size = 0;
  if (kSha256 == nullptr || ctx == nullptr || EVP_DigestInit_ex(ctx.get(), kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &size) != 1) {
    std::abort();  // SHA-256 missing from libcrypto: nothing in this service can work
  }
  return out;
}

const std::string& GenesisHash() {
  static const std::string* const kGenesis = new std::string(kHashSize, '\0');
  return *kGenesis;
}

int64_t TimestampNanos(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1'000'000'000 + t.nanos();
}

std::string EncodeEvent(const v1::AuditEvent& event) {
  return Encode(event, event.sequence(), TimestampNanos(event.record_time()));
}

std::string ContentFingerprint(const v1::AuditEvent& event) {
  return Sha256(Encode(event, 0, 0));
}

absl::StatusOr<v1::AuditEvent> DecodeEvent(std::string_view bytes) {
  Reader r(bytes);
  if (r.Raw(kEventMagic.size()) != kEventMagic || r.U8() != kEventEncodingVersion) {
    return absl::InvalidArgumentError("audit event encoding: not a version-1 event");
  }
  v1::AuditEvent e;
  e.set_sequence(r.I64());
  SetTimestampFromNanos(r.I64(), e.mutable_record_time());
  e.set_event_id(r.Str());
  SetTimestampFromNanos(r.I64(), e.mutable_event_time());
  e.set_type(static_cast<v1::EventType>(r.U32()));
  e.set_action(r.Str());
  e.set_outcome(static_cast<v1::Outcome>(r.U32()));
  e.set_status_code(r.Str());
  e.mutable_actor()->set_org(r.Str());
  e.mutable_actor()->set_user_id(r.Str());
  e.mutable_actor()->set_role(static_cast<hie::common::v1::Role>(r.U32()));
  e.set_purpose_of_use(static_cast<hie::common::v1::PurposeOfUse>(r.U32()));
  e.set_request_id(r.Str());
  e.set_client_request_id(r.Str());
  for (uint32_t i = 0, n = r.Count(8); i < n && r.ok(); ++i) {
    auto* p = e.add_patients();
    p->set_org(r.Str());
    p->set_local_id(r.Str());
  }
  e.set_person_id(r.Str());
  e.set_custodian_org(r.Str());
  e.set_recipient_org(r.Str());
  for (uint32_t i = 0, n = r.Count(8); i < n && r.ok(); ++i) {
    auto* o = e.add_objects();
    o->set_kind(r.Str());
    o->set_id(r.Str());
  }
  e.set_decision_id(r.Str());
  e.set_directive_id(r.Str());
  e.set_break_glass_id(r.Str());
  e.set_source_service(r.Str());
  e.set_caller_subject(r.Str());
  e.set_network_address(r.Str());
  std::string previous_key;
  for (uint32_t i = 0, n = r.Count(8); i < n && r.ok(); ++i) {
    std::string key = r.Str();
    if (i > 0 && !(previous_key < key)) {  // canonical: keys strictly ascending, no repeats
      return absl::InvalidArgumentError(
          absl::StrCat("audit event encoding: details keys out of order at byte ", r.offset()));
    }
    (*e.mutable_details())[key] = r.Str();
    previous_key = std::move(key);
  }
  if (!r.ok() || !r.AtEnd()) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit event encoding: malformed at byte ", r.offset()));
  }
  return e;
}

std::string EncodeCheckpoint(int64_t sequence, std::string_view head_hash, absl::Time create_time,
                             std::string_view key_id) {
  Writer w(96 + key_id.size());
  w.Raw(kCheckpointMagic);
  w.U8(1);
  w.I64(sequence);
  w.Raw(head_hash);
  w.I64(create_time == absl::InfinitePast() ? 0 : absl::ToUnixNanos(create_time));
  w.Str(key_id);
  return w.Take();
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixNanos(TimestampNanos(ts));
}

}  // namespace hie::audit
