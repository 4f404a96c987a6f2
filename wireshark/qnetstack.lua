-- qnetstack.lua: Wireshark dissectors for the qnetstack wire formats (see docs/wire.md).
--
-- Wireshark/tshark 4.0 or later (Lua 5.2; 5.3+ should work too). Usage:
--   wireshark -X lua_script:wireshark/qnetstack.lua capture.pcap
--   tshark -X lua_script:$PWD/wireshark/qnetstack.lua -r capture.pcap -V
-- or copy this file into ~/.local/lib/wireshark/plugins/ (then drop the -X option: loaded twice, the
-- second copy does nothing).
--
-- Protocols (display-filter prefixes):
--   qhp     heralding protocol, HERALD / REPORT / BATCH  UDP port 7770
--   qll     link-layer service (draft-dahlberg-ll-quantum-03 section 4):
--           CREATE (to port 7771), ACK / OK_K / OK_M / ERR / OK_MB (from port 7771, by Type nibble)
--   egp     link-layer peer protocol, REQ / REQ_ACK / CONFIRM / CONFIRM_ACK / SCHEDULE / SCHEDULE_ACK /
--           RELEASE / RELEASE_ACK, UDP port 7772; the
--           CREATE carried by a REQ is dissected as a qll layer (qll.*) after the egp layer
--   qframe  quantum frame (a photon)                 EtherType 0x88B5
--   qns     network-layer service: the qll messages end to end, UDP port 7773 (same field names as qll;
--           a datagram between 7771 and 7773 is qll: Wireshark tries the lower port first)
--   p4egp   P4 EGP header of QuTech's v1quantum data plane: raw EtherType 0x4401, and the first
--           8 bytes of a TRACK
--   qnp     P4 QNP header: the last 8 bytes of a TRACK (UDP port 7774, or raw EtherType 0x4402
--           after a p4egp layer)
--   qncp    network control protocol, UDP port 7775: SETUP, SETUP_REPLY, TRACK_ACK, EXPIRE, CREDIT,
--           CONFIRM, COMPLETE, TEARDOWN, DISTIL and their ACKs; a SETUP's CREATE is a qll layer after it
--   qnetauth the authentication trailer at the end of every datagram above and of PTP (UDP 319/320):
--           Sender ID, Receiver ID, Sequence Number, ICV; preferences qnetauth.trailer (on by default) and
--           qnetauth.key (the run secret in hex: the ICVs are verified, qnetauth.icv_status)
--   qtp     qubit transport protocol (teleportation), UDP port 7776: DATA, ACK, ERR
--   qapp    application messages between the applications' ports (UDP 49152-49173, 50000-51023): the API's reliable
--           exchanges (Magic E7 C4, Tag, Flags, payload) and any other application data (qapp.data)
--
-- On UDP a datagram is claimed only between two addresses of the emulator's 198.18.0.0/15 (every qnet run and
-- qnet up node capture), so other traffic on these ports (a real PTP network, ephemeral ports) reads as without
-- the plugin; preference qnetauth.any_address claims any address, qnetmp.base_port qnet up's loopback ports.
--
-- Every field abbreviation is <proto>.<scapy field name> of the reference scapy layers in
-- protocols/packets/*.py, and value strings use the scapy enum names, so
-- tests/tshark_util.py can compare tshark's dissection with scapy's field by field.
-- Short or malformed messages get expert info (group Malformed) instead of an error.

-- Loaded a second time (installed in the plugin folder and also given with -X lua_script, or given twice),
-- the script does nothing: registering the protocols again would be a Lua error. (Each script runs in its own
-- environment; _G is the one all scripts share.)
if _G.qnetstack_dissector_loaded then return end
_G.qnetstack_dissector_loaded = true

local HERALD_PORT, LINK_SERVICE_PORT, EGP_PORT = 7770, 7771, 7772
local NETWORK_SERVICE_PORT, QNP_PORT, QNCP_PORT, QTP_PORT = 7773, 7774, 7775, 7776
local QFRAME_ETHERTYPE = 0x88B5
local ETHERTYPE_P4_EGP, ETHERTYPE_P4_QNP = 0x4401, 0x4402
local VERSION = 1

-- Bit operations: bit32 (Lua 5.2), Wireshark's BitOp `bit`, or the 5.3+ operators.
local band, rshift
if bit32 then
    band, rshift = bit32.band, bit32.rshift
elseif bit then
    band, rshift = bit.band, bit.rshift
else
    band = load("return function(a, b) return a & b end")()
    rshift = load("return function(a, n) return a >> n end")()
end

-- Value strings: the names of the scapy enums.
local BELL_STATES = {[0] = "PHI_PLUS", [1] = "PSI_PLUS", [2] = "PHI_MINUS", [3] = "PSI_MINUS"}
local QHP_TYPES = {[1] = "HERALD", [2] = "REPORT", [3] = "BATCH"}
local OUTCOMES = {[0] = "FAILURE", [1] = "SUCCESS"}
local SCHEMES = {[1] = "DOUBLE_CLICK", [2] = "SINGLE_CLICK", [3] = "SOURCE", [4] = "COUPLER"}
local FRAME_TYPES = {[1] = "PHOTON"}
local QLL_TYPES = {[1] = "ACK", [2] = "OK_K", [3] = "OK_M", [4] = "ERR", [5] = "OK_MB"}
local BLOCK_BASES = {[0] = "Z", [1] = "X", [2] = "Y"}
local TPE = {[0] = "K", [1] = "M"}
local TIME_UNITS = {[0] = "us", [1] = "ms", [2] = "s", [3] = "unused"}
local TIME_UNIT_NS = {[0] = 1000, [1] = 1000000, [2] = 1000000000}
local RANDOM_BASIS = {[0] = "NONE", [1] = "X_Z", [2] = "X_Y_Z", [3] = "CHSH"}
local DISTIL_MODES = {[0] = "NONE", [1] = "AUTO", [2] = "EXPLICIT", [3] = "RESERVED"}
-- the link-service CREATE's Window field (docs/wire.md section 4.1.1): a windowed request opened, credited, closed
local WINDOW_OPS = {[0] = "NONE", [1] = "OPEN", [2] = "CREDIT", [3] = "CLOSE"}
local BASES = {[0] = "Z", [1] = "X", [2] = "Y", [3] = "Z_ROT_PLUS_PI4_Y", [4] = "Z_ROT_MINUS_PI4_Y"}
local LINK_ERROR_CODES = {[1] = "UNSUPP", [2] = "CREATE", [3] = "REJECTED", [4] = "OTHER",
                          [5] = "EXPIRE", [6] = "TIMEOUT", [7] = "NOTIME", [8] = "NORES"}
local ERROR_CODES = {[9] = "NOPATH", [10] = "DOWN", [11] = "INUSE"}   -- 9-11: network layer only
for k, v in pairs(LINK_ERROR_CODES) do ERROR_CODES[k] = v end
local EGP_TYPES = {[1] = "REQ", [2] = "REQ_ACK", [3] = "CONFIRM", [4] = "CONFIRM_ACK", [5] = "SCHEDULE",
                   [6] = "SCHEDULE_ACK", [7] = "RELEASE", [8] = "RELEASE_ACK"}
local EGP_STATUS = {[0] = "0"}
for k, v in pairs(LINK_ERROR_CODES) do EGP_STATUS[k] = v end

local FIDELITY_SCALE = 65535

---------------------------------------------------------------------------------------------
-- Table-driven message layouts

local CTOR = {[1] = ProtoField.uint8, [2] = ProtoField.uint16, [3] = ProtoField.uint24,
              [4] = ProtoField.uint32, [8] = ProtoField.uint64}

local function mask_shift(mask)
    local s = 0
    while band(mask, 1) == 0 do
        mask = rshift(mask, 1)
        s = s + 1
    end
    return s
end

-- A registry of ProtoFields per protocol. The same scapy name in several messages of one
-- protocol (qll.create_id, qll.d, ...) shares one ProtoField when its size and mask agree;
-- otherwise a second ProtoField with the same abbreviation is registered (as C dissectors do).
local function registry(pname)
    return {pname = pname, list = {}, by_key = {}}
end

-- spec: {name, label, offset, size, mask = m, vals = t, note = f(value, values so far) -> text, hex = true (shown
-- in hex), checked = true (the values `vals` defines are checked, not shown: `note` names them),
-- defined = f(value) -> false for a value the codec rejects (flagged undefined_value, as one missing from `vals`)}
local function layout(reg, size, specs)
    local lay = {size = size, fields = {}}
    for _, s in ipairs(specs) do
        local name, label, offset, fsize = s[1], s[2], s[3], s[4]
        local abbr = reg.pname .. "." .. name
        local key = abbr .. "/" .. fsize .. "/" .. tostring(s.mask or 0)
        local pf = reg.by_key[key]
        if pf == nil then
            pf = CTOR[fsize](abbr, label, s.hex and base.HEX or base.DEC, (not s.checked) and s.vals or nil, s.mask)
            reg.by_key[key] = pf
            table.insert(reg.list, pf)
        end
        table.insert(lay.fields, {
            pf = pf, name = name, label = label, offset = offset, size = fsize,
            mask = s.mask, shift = s.mask and mask_shift(s.mask) or 0, vals = s.vals,
            note = s.note, defined = s.defined,
        })
    end
    return lay
end

local function expert_set(pname, title)
    return {
        short = ProtoExpert.new(pname .. ".short", title .. " message truncated",
                                expert.group.MALFORMED, expert.severity.ERROR),
        trailing = ProtoExpert.new(pname .. ".trailing", title .. " message has trailing bytes",
                                   expert.group.MALFORMED, expert.severity.WARN),
        version = ProtoExpert.new(pname .. ".bad_version", title .. " version is not " .. VERSION,
                                  expert.group.PROTOCOL, expert.severity.WARN),
        undefined = ProtoExpert.new(pname .. ".undefined_value", title .. " field value undefined",
                                    expert.group.MALFORMED, expert.severity.WARN),
        unknown = ProtoExpert.new(pname .. ".unknown_type", title .. " message type unknown",
                                  expert.group.MALFORMED, expert.severity.ERROR),
    }
end

-- A capture cut by its snapshot length (tshark -s, editcap -s) holds only the start of a long frame: a message
-- cut there is marked not captured (a note), not truncated on the wire (an error). Set per datagram or frame.
-- (One table: a Lua chunk has at most 200 locals.)
local snap = {
    cut = false,
    expert = ProtoExpert.new("qnetauth.not_captured", "Not captured: the capture was cut by its snapshot length",
                             expert.group.UNDECODED, expert.severity.NOTE),
}
function snap.mark(buf) snap.cut = buf:len() < buf:reported_len() end

function snap.short(tree, short, text)
    if snap.cut then return tree:add_proto_expert_info(snap.expert, text .. " (the rest was not captured)") end
    return tree:add_proto_expert_info(short, text)
end

local function register(proto, reg, ex, extra, extra_experts)
    local fields = {}
    for _, pf in ipairs(reg.list) do table.insert(fields, pf) end
    for _, pf in ipairs(extra or {}) do table.insert(fields, pf) end
    proto.fields = fields
    local experts = {ex.short, ex.trailing, ex.version, ex.undefined, ex.unknown}
    for _, e in ipairs(extra_experts or {}) do table.insert(experts, e) end
    proto.experts = experts
end

-- Adds the fields of `lay` that fit in `buf` to `tree`, the layout starting at byte `base` (default 0);
-- returns their values by name and whether the whole layout was present. 64-bit values are UInt64 objects.
local function add_fields(tree, buf, lay, ex, title, base)
    base = base or 0
    local n = buf:len()
    local values = {}
    for _, f in ipairs(lay.fields) do
        if base + f.offset + f.size > n then
            snap.short(tree, ex.short, string.format(
                "%s is %d bytes, only %d present", title, lay.size, math.max(0, n - base)))
            return values, false
        end
        local range = buf(base + f.offset, f.size)
        local item = tree:add(f.pf, range)
        local v
        if f.size == 8 then
            v = range:uint64()
        else
            v = range:uint()
            if f.mask then v = rshift(band(v, f.mask), f.shift) end
        end
        values[f.name] = v
        if f.name == "version" and v ~= VERSION then
            item:add_proto_expert_info(ex.version, string.format("Version %d, expected %d", v, VERSION))
        elseif (f.vals and f.vals[v] == nil) or (f.defined and not f.defined(v)) then
            item:add_proto_expert_info(ex.undefined, string.format("Undefined %s %d", f.label, v))
        end
        if f.note then
            local text = f.note(v, values)
            if text then item:append_text(" (" .. text .. ")") end
        end
    end
    return values, true
end

-- The protocol item covers the message (or what is there of it).
local function proto_item(root, proto, buf, size)
    local n = buf:len()
    if n == 0 then return root:add(proto) end
    return root:add(proto, buf(0, math.min(n, size)))
end

local function check_trailing(tree, buf, lay, ex, f_trailing)
    if buf:len() > lay.size then
        local item = tree:add(f_trailing, buf(lay.size))
        item:add_proto_expert_info(ex.trailing, string.format(
            "%d bytes after the %d-byte message", buf:len() - lay.size, lay.size))
    end
end

local function name_of(vals, v)
    return vals[v] or ("Unknown(" .. tostring(v) .. ")")
end

local function fidelity_note(v) return string.format("F = %.4f", v / FIDELITY_SCALE) end
local function angle_note(v) return string.format("%.4f rad", 2 * math.pi * v / 256) end

---------------------------------------------------------------------------------------------
-- QHP: heralding protocol (protocols/packets/heralding.py)

local qhp = Proto("qhp", "QNet Heralding Protocol")
local qhp_reg = registry("qhp")
local qhp_ex = expert_set("qhp", "QHP")
local qhp_trailing = ProtoField.bytes("qhp.trailing_bytes", "Trailing bytes")
local QHP_HERALD = layout(qhp_reg, 28, {
    {"version", "Version", 0, 1},
    {"msg_type", "Message Type", 1, 1, vals = QHP_TYPES},
    {"outcome", "Outcome", 2, 1, vals = OUTCOMES},
    {"bell_state", "Bell State", 3, 1, vals = BELL_STATES},
    {"link_id", "Link ID", 4, 2},
    {"scheme", "Scheme", 6, 1, vals = SCHEMES},
    {"reserved", "Reserved", 7, 1},
    {"attempt_seq", "Attempt Sequence Number", 8, 8},
    {"attempts", "Attempts", 16, 4},
    {"detection_time", "Detection Time (ns)", 20, 8},
})
-- BATCH (type 3, protocols/packets/heralding_batch.py): a 32-byte header, then, at Coding 0, Count failure
-- counts of Delta Bits bits and Count 2-bit Bell states; at Coding 1, the Bell states, the failure counts'
-- low Delta Bits bits and their quotients in unary (q zero bits, then a one bit). Each array is bit-packed
-- MSB first and zero-padded to a byte; the unary plane ends in the byte of its last one bit.
local QHP_BATCH = layout(qhp_reg, 32, {
    {"version", "Version", 0, 1},
    {"msg_type", "Message Type", 1, 1, vals = QHP_TYPES},
    {"delta_bits", "Delta Bits", 2, 1},
    {"coding", "Coding", 3, 1, vals = {[0] = "fixed width", [1] = "Rice"}},
    {"link_id", "Link ID", 4, 2},
    {"scheme", "Scheme", 6, 1, vals = SCHEMES},
    {"reserved2", "Reserved", 7, 1},
    {"attempt_seq", "First Attempt Sequence Number", 8, 8},
    {"attempts", "Attempts", 16, 4},
    {"count", "Count", 20, 4},
    {"detection_time", "Detection Time (ns)", 24, 8},
})
local qhp_failures = ProtoField.uint32("qhp.failures", "Failed attempts before success")
local qhp_bells = ProtoField.uint8("qhp.bells", "Bell State", base.DEC, BELL_STATES)
local qhp_batch_ex = {
    padding = ProtoExpert.new("qhp.bad_padding", "QHP BATCH padding bits are not zero",
                              expert.group.MALFORMED, expert.severity.WARN),
    attempts = ProtoExpert.new("qhp.bad_attempts", "QHP BATCH has more successes and failures than attempts",
                               expert.group.MALFORMED, expert.severity.WARN),
    unary = ProtoExpert.new("qhp.bad_unary", "QHP BATCH unary plane does not hold Count codes ending in its last byte",
                            expert.group.MALFORMED, expert.severity.WARN),
}
register(qhp, qhp_reg, qhp_ex, {qhp_trailing, qhp_failures, qhp_bells},
         {qhp_batch_ex.padding, qhp_batch_ex.attempts, qhp_batch_ex.unary})

-- Adds `count` fields of `width` bits packed from byte `start`; returns their sum, whether the
-- padding after them is zero, and their largest value.
local function packed_items(tree, buf, field, start, count, width)
    local sum, largest = 0, 0
    for i = 0, count - 1 do
        local bit = i * width
        local first = math.floor(bit / 8)
        local range = buf(start + first, math.floor((bit + width - 1) / 8) - first + 1)
        local v = range:bitfield(bit % 8, width)
        tree:add(field, range, v)
        sum = sum + v
        if v > largest then largest = v end
    end
    local spare = (8 - (count * width) % 8) % 8
    local zero = spare == 0 or count == 0 or
        buf(start + math.floor(count * width / 8), 1):bitfield(8 - spare, spare) == 0
    return sum, zero, largest
end

local dissect_batch
do   -- (its helpers' locals end with the block: the main chunk may hold at most 200)
-- The `count` values of `width` bits packed from byte `start` (not added to the tree), and whether the
-- padding after them is zero.
local function packed_values(buf, start, count, width)
    local values = {}
    for i = 0, count - 1 do
        local bit = i * width
        local first = math.floor(bit / 8)
        values[i + 1] = buf(start + first, math.floor((bit + width - 1) / 8) - first + 1):bitfield(bit % 8, width)
    end
    local spare = (8 - (count * width) % 8) % 8
    return values, spare == 0 or count == 0 or
        buf(start + math.floor(count * width / 8), 1):bitfield(8 - spare, spare) == 0
end

-- Coding 1: the failure counts from their low bits (at `low`) and the unary plane (from `unary` to the end),
-- added to the tree; returns their sum and whether the unary plane holds exactly `count` codes ending in its
-- last byte.
local function rice_items(tree, buf, low, unary, count, width)
    local lows = width > 0 and packed_values(buf, low, count, width) or {}
    local bytes = buf:len() > unary and buf:raw(unary, buf:len() - unary) or ""
    local sum, q, i, ended = 0, 0, 0, 0
    for pos = 1, #bytes do
        local byte = bytes:byte(pos)
        if byte == 0 then
            q = q + 8
        else
            for bit = 7, 0, -1 do
                if math.floor(byte / 2 ^ bit) % 2 == 1 then
                    i = i + 1
                    local v = q * 2 ^ width + (lows[i] or 0)
                    if i <= count then
                        tree:add(qhp_failures, buf(unary + pos - 1, 1), math.min(v, 0xFFFFFFFF))
                        sum = sum + v
                    end
                    ended = pos
                    q = 0
                else
                    q = q + 1
                end
            end
        end
    end
    return sum, i == count and (count == 0 and #bytes == 0 or count > 0 and ended == #bytes)
end

dissect_batch = function(buf, pinfo, root)
    local tree = proto_item(root, qhp, buf, buf:len())
    local v, complete = add_fields(tree, buf, QHP_BATCH, qhp_ex, "BATCH")
    if not complete then
        pinfo.cols.info:set("BATCH [truncated]")
        return buf:len()
    end
    local info = string.format("BATCH link=%d seq=%s attempts=%d count=%d t=%sns", v.link_id,
                               tostring(v.attempt_seq), v.attempts, v.count, tostring(v.detection_time))
    pinfo.cols.info:set(info)
    tree:append_text(", " .. info)
    local width, count = v.delta_bits, v.count
    if width > 32 then
        tree:add_proto_expert_info(qhp_ex.undefined, string.format("Delta Bits %d above 32", width))
        return buf:len()
    end
    if v.coding > 1 then return buf:len() end           -- flagged undefined: no layout to read
    local failures_len = math.ceil(count * width / 8)
    local bells_len = math.ceil(count * 2 / 8)
    local size = 32 + failures_len + bells_len
    if buf:len() < size then
        snap.short(tree, qhp_ex.short, string.format(
            "BATCH of %d successes is %d bytes, only %d present", count, size, buf:len()))
        return buf:len()
    end
    local failed, zero1, zero2 = 0, true, true
    if v.coding == 1 then
        _, zero2 = packed_items(tree, buf, qhp_bells, 32, count, 2)
        local low_zero = width == 0 or select(2, packed_values(buf, 32 + bells_len, count, width))
        local whole
        failed, whole = rice_items(tree, buf, 32 + bells_len, size, count, width)
        zero1 = low_zero
        if not whole then
            tree:add_proto_expert_info(qhp_batch_ex.unary, string.format(
                "the unary plane does not hold %d codes ending in its last byte", count))
        end
        size = buf:len()
    elseif width > 0 then
        failed, zero1 = packed_items(tree, buf, qhp_failures, 32, count, width)
    else
        for _ = 1, count do tree:add(qhp_failures, buf(2, 1), 0) end
    end
    if v.coding == 0 then
        _, zero2 = packed_items(tree, buf, qhp_bells, 32 + failures_len, count, 2)
    end
    if not (zero1 and zero2) then
        tree:add_proto_expert_info(qhp_batch_ex.padding, "padding bits are not zero")
    end
    if failed + count > v.attempts then
        tree:add_proto_expert_info(qhp_batch_ex.attempts, string.format(
            "%d successes after %d failures in %d attempts", count, failed, v.attempts))
    end
    if buf:len() > size then
        local item = tree:add(qhp_trailing, buf(size))
        item:add_proto_expert_info(qhp_ex.trailing, string.format(
            "%d bytes after the %d-byte message", buf:len() - size, size))
    end
    return buf:len()
end

end

local function qhp_dissect(buf, pinfo, root)
    pinfo.cols.protocol = "QHP"
    if buf:len() >= 2 and buf(1, 1):uint() == 3 then return dissect_batch(buf, pinfo, root) end
    local tree = proto_item(root, qhp, buf, QHP_HERALD.size)
    local v, complete = add_fields(tree, buf, QHP_HERALD, qhp_ex, "HERALD")
    if not complete then
        pinfo.cols.info:set("HERALD [truncated]")
        return buf:len()
    end
    check_trailing(tree, buf, QHP_HERALD, qhp_ex, qhp_trailing)
    local info = name_of(QHP_TYPES, v.msg_type) .. " " .. name_of(OUTCOMES, v.outcome)
    if v.outcome == 1 then info = info .. " " .. name_of(BELL_STATES, v.bell_state) end
    info = info .. string.format(" link=%d seq=%s attempts=%d t=%sns", v.link_id,
                                 tostring(v.attempt_seq), v.attempts, tostring(v.detection_time))
    pinfo.cols.info:set(info)
    tree:append_text(", " .. info)
    return buf:len()
end

---------------------------------------------------------------------------------------------
-- QFRAME: quantum frame (protocols/packets/qframe.py)

local qframe = Proto("qframe", "QNet Quantum Frame")
local qframe_reg = registry("qframe")
local qframe_ex = expert_set("qframe", "QFRAME")
local QFRAME = layout(qframe_reg, 32, {
    {"version", "Version", 0, 1},
    {"frame_type", "Frame Type", 1, 1, vals = FRAME_TYPES},
    {"link_id", "Link ID", 2, 2},
    {"source_node", "Source Node ID", 4, 4},
    {"attempt_seq", "Attempt Sequence Number", 8, 8},
    {"emission_time", "Emission Time (ns)", 16, 8},
    {"qubit_id", "Qubit ID", 24, 8},
})
local qframe_trailing = ProtoField.bytes("qframe.trailing_bytes", "Trailing bytes")
register(qframe, qframe_reg, qframe_ex, {qframe_trailing})

function qframe.dissector(buf, pinfo, root)
    snap.mark(buf)
    pinfo.cols.protocol = "QFRAME"
    local tree = proto_item(root, qframe, buf, QFRAME.size)
    local v, complete = add_fields(tree, buf, QFRAME, qframe_ex, "QFRAME")
    if not complete then
        pinfo.cols.info:set("QFRAME [truncated]")
        return buf:len()
    end
    local info = string.format("%s link=%d src=%d seq=%s qubit=%s t=%sns",
                               name_of(FRAME_TYPES, v.frame_type), v.link_id, v.source_node,
                               tostring(v.attempt_seq), tostring(v.qubit_id),
                               tostring(v.emission_time))
    pinfo.cols.info:set(info)
    tree:append_text(", " .. info)
    -- A QFRAME is exactly 32 bytes (docs/wire.md section 3.2): more is flagged, as the codec rejects it.
    check_trailing(tree, buf, QFRAME, qframe_ex, qframe_trailing)
    return buf:len()
end

---------------------------------------------------------------------------------------------
-- QLL and QNS: the link-layer service messages (protocols/packets/linkservice.py), on the link
-- layer's port 7771 (qll) and, end to end, on the network layer's port 7773 (qns,
-- protocols/packets/scapy_layers/netservice.py). One set of layouts, registered under each protocol's name,
-- so qll.goodness and qns.goodness are the same field of the same message.

local function max_time_note(v, values)
    if v == 0 then return "no limit" end
    local unit = TIME_UNIT_NS[values.tu]
    if unit == nil then return "time unit 11 is unused" end
    return string.format("%d %s", v, TIME_UNITS[values.tu])
end

local CREATE_SIZE = 24
local CREATE_SPECS = {
    {"remote_node_id", "Remote Node ID", 0, 4},
    {"minimum_fidelity", "Minimum Fidelity", 4, 2, note = fidelity_note},
    {"tu", "Time Unit", 6, 2, mask = 0xC000, vals = TIME_UNITS},
    {"max_time", "Max Time", 6, 2, mask = 0x3FFF, note = max_time_note},
    {"purpose_id", "Purpose ID", 8, 2, hex = true},
    {"number", "Number", 10, 2},
    {"priority", "Priority", 12, 1, mask = 0xE0},
    {"tpe", "Type of Request (TPE)", 12, 1, mask = 0x10, vals = TPE},
    {"ato", "Atomic (ATO)", 12, 1, mask = 0x08},
    {"con", "Consecutive (CON)", 12, 1, mask = 0x04},
    {"rl", "Random Basis Local (RL)", 12, 1, mask = 0x03, vals = RANDOM_BASIS},
    {"rr", "Random Basis Remote (RR)", 13, 1, mask = 0xC0, vals = RANDOM_BASIS},
    {"distil", "Distil (network service)", 13, 1, mask = 0x30, vals = DISTIL_MODES},
    {"window", "Window (link service)", 13, 1, mask = 0x0C, vals = WINDOW_OPS},
    {"reserved", "Reserved", 13, 1, mask = 0x03},
    {"pl1", "PL1", 14, 1}, {"pl2", "PL2", 15, 1}, {"pr1", "PR1", 16, 1}, {"pr2", "PR2", 17, 1},
    {"rotx1l", "ROTX1L", 18, 1, note = angle_note}, {"rotyl", "ROTYL", 19, 1, note = angle_note},
    {"rotx2l", "ROTX2L", 20, 1, note = angle_note}, {"rotx1r", "ROTX1R", 21, 1, note = angle_note},
    {"rotyr", "ROTYR", 22, 1, note = angle_note}, {"rotx2r", "ROTX2R", 23, 1, note = angle_note},
}

local TYPE_FIELD = {"type", "Type", 0, 4, mask = 0xF0000000, vals = QLL_TYPES}
local CREATE_ID_FIELD = {"create_id", "Create ID", 0, 4, mask = 0x0FFFF000}

local UPWARD_SPECS = {
    [1] = {4, {
        TYPE_FIELD, CREATE_ID_FIELD,
        {"unused", "Unused", 0, 4, mask = 0x00000FFF},
    }},
    [2] = {16, {
        TYPE_FIELD, CREATE_ID_FIELD,
        {"lqid", "Logical Qubit ID (LQID)", 0, 4, mask = 0x00000F00},
        {"d", "Directionality (D)", 0, 4, mask = 0x00000080},
        {"bell_state", "Bell State", 0, 4, mask = 0x00000060, vals = BELL_STATES},
        {"unused", "Unused", 0, 4, mask = 0x0000001F},
        {"sequence_number", "Sequence Number", 4, 2},
        {"purpose_id", "Purpose ID", 6, 2, hex = true},
        {"remote_node_id", "Remote Node ID", 8, 4},
        {"goodness", "Goodness", 12, 2, note = fidelity_note},
        {"time_of_goodness", "Time of Goodness (us mod 2^16)", 14, 2},
    }},
    [3] = {16, {
        TYPE_FIELD, CREATE_ID_FIELD,
        {"m", "Measurement Outcome (M)", 0, 4, mask = 0x00000800},
        {"d", "Directionality (D)", 0, 4, mask = 0x00000400},
        {"basis", "Basis", 0, 4, mask = 0x00000380, vals = BASES},
        {"bell_state", "Bell State", 0, 4, mask = 0x00000060, vals = BELL_STATES},
        {"unused", "Unused", 0, 4, mask = 0x0000001F},
        {"sequence_number", "Sequence Number", 4, 2},
        {"purpose_id", "Purpose ID", 6, 2, hex = true},
        {"remote_node_id", "Remote Node ID", 8, 4},
        {"goodness", "Goodness", 12, 2, note = fidelity_note},
        {"unused2", "Unused", 14, 2},
    }},
    [4] = {12, {
        TYPE_FIELD, CREATE_ID_FIELD,
        {"err", "Error Code (ERR)", 0, 4, mask = 0x00000F00, vals = ERROR_CODES},
        {"s", "Expire by Sequence Numbers (S)", 0, 4, mask = 0x00000080},
        {"unused", "Unused", 0, 4, mask = 0x0000007F},
        {"sequence_number_low", "Sequence Number Low", 4, 2},
        {"sequence_number_high", "Sequence Number High", 6, 2},
        {"origin_node", "Origin Node", 8, 4},
    }},
}

local function create_summary(v)
    local info = string.format("CREATE remote=%d number=%d tpe=%s purpose=%d min_fidelity=%.4f",
                               v.remote_node_id, v.number, name_of(TPE, v.tpe), v.purpose_id,
                               v.minimum_fidelity / FIDELITY_SCALE)
    if v.window ~= 0 then info = info .. " window=" .. name_of(WINDOW_OPS, v.window) end
    return info
end

-- OK_MB (type 5, qll only): a 20-byte header, then Count outcomes (1 bit), bases (2 bits) and Bell
-- states (2 bits), each array bit-packed MSB first and zero-padded to a byte.
local OK_MB_SPECS = {
    TYPE_FIELD, CREATE_ID_FIELD,
    {"d", "Directionality (D)", 0, 4, mask = 0x00000800},
    {"unused", "Unused", 0, 4, mask = 0x000007FF},
    {"sequence_number", "Sequence Number (first)", 4, 2},
    {"purpose_id", "Purpose ID", 6, 2, hex = true},
    {"remote_node_id", "Remote Node ID", 8, 4},
    {"goodness", "Goodness", 12, 2, note = fidelity_note},
    {"unused2", "Unused", 14, 2},
    {"count", "Count", 16, 4},
}

local function upward_summary(kind, v)
    if kind == 5 then
        return string.format("OK_MB create_id=%d seq=%d count=%d remote=%d goodness=%.4f", v.create_id,
                             v.sequence_number, v.count, v.remote_node_id, v.goodness / FIDELITY_SCALE)
    end
    if kind == 1 then
        return string.format("ACK create_id=%d", v.create_id)
    elseif kind == 2 then
        return string.format("OK_K create_id=%d seq=%d lqid=%d bell=%s remote=%d goodness=%.4f",
                             v.create_id, v.sequence_number, v.lqid, name_of(BELL_STATES, v.bell_state),
                             v.remote_node_id, v.goodness / FIDELITY_SCALE)
    elseif kind == 3 then
        return string.format("OK_M create_id=%d seq=%d m=%d basis=%s bell=%s remote=%d",
                             v.create_id, v.sequence_number, v.m, name_of(BASES, v.basis),
                             name_of(BELL_STATES, v.bell_state), v.remote_node_id)
    end
    local info = string.format("ERR %s create_id=%d origin=%d", name_of(ERROR_CODES, v.err),
                               v.create_id, v.origin_node)
    if v.s == 1 then
        info = info .. string.format(" seq=[%d,%d)", v.sequence_number_low, v.sequence_number_high)
    end
    return info
end

-- A service protocol: CREATE travelling to `service_port`, ACK / OK / ERR coming from it.
-- Returns {proto, dissect_create(buf, pinfo, root) -> info, dissect(buf, pinfo, root, to_service)}.
local function service_protocol(pname, title, description, service_port, blocks)
    local proto = Proto(pname, description)
    local reg = registry(pname)
    local ex = expert_set(pname, title)
    local f_trailing = ProtoField.bytes(pname .. ".trailing_bytes", "Trailing bytes")
    local create_lay = layout(reg, CREATE_SIZE, CREATE_SPECS)
    local upward = {}
    for kind = 1, #UPWARD_SPECS do upward[kind] = layout(reg, UPWARD_SPECS[kind][1], UPWARD_SPECS[kind][2]) end
    local type_only = layout(reg, 1, {{"type", "Type", 0, 1, mask = 0xF0, vals = QLL_TYPES}})
    local extra, extra_experts = {f_trailing}, {}
    local block = nil
    if blocks then
        block = {
            lay = layout(reg, 20, OK_MB_SPECS),
            outcomes = ProtoField.uint8(pname .. ".outcomes", "Outcome"),
            bases = ProtoField.uint8(pname .. ".bases", "Basis", base.DEC, BLOCK_BASES),
            bells = ProtoField.uint8(pname .. ".bell_states", "Bell State", base.DEC, BELL_STATES),
            padding = ProtoExpert.new(pname .. ".bad_padding", title .. " OK_MB padding bits are not zero",
                                      expert.group.MALFORMED, expert.severity.WARN),
        }
        extra = {f_trailing, block.outcomes, block.bases, block.bells}
        extra_experts = {block.padding}
    end
    register(proto, reg, ex, extra, extra_experts)
    local svc = {proto = proto}

    -- OK_MB: the header, then each packed array item by item; the codec's checks as expert info.
    local function dissect_block(buf, root)
        local tree = proto_item(root, proto, buf, buf:len())
        local v, complete = add_fields(tree, buf, block.lay, ex, "OK_MB")
        if not complete then return "OK_MB [truncated]" end
        local count = v.count
        local sizes = {math.ceil(count / 8), math.ceil(count * 2 / 8), math.ceil(count * 2 / 8)}
        local size = 20 + sizes[1] + sizes[2] + sizes[3]
        local info = upward_summary(5, v)
        tree:append_text(", " .. info)
        if buf:len() < size then
            snap.short(tree, ex.short, string.format(
                "OK_MB of %d pairs is %d bytes, only %d present", count, size, buf:len()))
            return info
        end
        local _, zero1 = packed_items(tree, buf, block.outcomes, 20, count, 1)
        local _, zero2, largest = packed_items(tree, buf, block.bases, 20 + sizes[1], count, 2)
        local _, zero3 = packed_items(tree, buf, block.bells, 20 + sizes[1] + sizes[2], count, 2)
        if not (zero1 and zero2 and zero3) then
            tree:add_proto_expert_info(block.padding, "padding bits are not zero")
        end
        if largest > 2 then
            tree:add_proto_expert_info(ex.undefined, "Basis 3 is unused")
        end
        if buf:len() > size then
            local item = tree:add(f_trailing, buf(size))
            item:add_proto_expert_info(ex.trailing, string.format(
                "%d bytes after the %d-byte message", buf:len() - size, size))
        end
        return info
    end

    -- Dissects a CREATE as a layer of this protocol under `root`; returns the Info text.
    function svc.dissect_create(buf, pinfo, root)
        local tree = proto_item(root, proto, buf, CREATE_SIZE)
        local v, complete = add_fields(tree, buf, create_lay, ex, "CREATE")
        if not complete then return "CREATE [truncated]" end
        check_trailing(tree, buf, create_lay, ex, f_trailing)
        local info = create_summary(v)
        tree:append_text(", " .. info)
        return info
    end

    local function dissect_upward(buf, pinfo, root)
        local n = buf:len()
        local kind = n > 0 and rshift(buf(0, 1):uint(), 4) or nil
        if kind == 5 and block ~= nil then return dissect_block(buf, root) end
        local lay = kind and upward[kind]
        if lay == nil then
            local tree = proto_item(root, proto, buf, n)
            if n == 0 then
                snap.short(tree, ex.short, "Empty " .. title .. " message")
            else
                add_fields(tree, buf, type_only, ex, title)
                tree:add_proto_expert_info(ex.unknown, string.format("No %s message of Type %d", title, kind))
            end
            return title .. " [unknown type]"
        end
        local tree = proto_item(root, proto, buf, lay.size)
        if n < 4 then add_fields(tree, buf, type_only, ex, title) end
        local v, complete = add_fields(tree, buf, lay, ex, QLL_TYPES[kind])
        if not complete then return QLL_TYPES[kind] .. " [truncated]" end
        check_trailing(tree, buf, lay, ex, f_trailing)
        local info = upward_summary(kind, v)
        tree:append_text(", " .. info)
        return info
    end

    -- to_service: a CREATE travelling to the service; otherwise a reply from it.
    function svc.dissect(buf, pinfo, root, to_service)
        pinfo.cols.protocol = title
        local info
        if to_service then
            info = svc.dissect_create(buf, pinfo, root)
        else
            info = dissect_upward(buf, pinfo, root)
        end
        pinfo.cols.info:set(info)
        return buf:len()
    end

    function svc.dissect_port(buf, pinfo, root)
        return svc.dissect(buf, pinfo, root, pinfo.dst_port == service_port)
    end
    return svc
end

local QLL = service_protocol("qll", "QLL", "QNet Link Layer Service (draft-dahlberg-ll-quantum-03)",
                             LINK_SERVICE_PORT, true)
local QNS = service_protocol("qns", "QNS", "QNet Network Layer Service (the link-layer service end to end)",
                             NETWORK_SERVICE_PORT, false)

---------------------------------------------------------------------------------------------
-- EGP: link-layer peer protocol (protocols/packets/egp.py)

local egp = Proto("egp", "QNet EGP Peer Protocol")
-- The types with a pair's or a run's fields after the header, REQ's Type, and what Status 0 means by Type
-- (docs/wire.md sections 4.4 and 4.5; REQ, CONFIRM, CONFIRM_ACK and SCHEDULE give it no name). One table: a
-- Lua chunk has at most 200 locals.
local EGP_BODY = {pair = {[3] = true, [4] = true, [7] = true, [8] = true}, run = {[5] = true, [6] = true}, req = 1,
                  status_zero = {[2] = "ACCEPTED", [6] = "FOLLOWING", [7] = "DELIVER", [8] = "DONE"}}
local function egp_status_name(msg_type, status)
    if status == 0 then return EGP_BODY.status_zero[msg_type] end
    return EGP_STATUS[status] or ("Unknown(" .. tostring(status) .. ")")
end
local egp_reg = registry("egp")
local egp_ex = expert_set("egp", "EGP")
local egp_trailing = ProtoField.bytes("egp.trailing_bytes", "Trailing bytes")
local EGP_HEADER = layout(egp_reg, 16, {
    {"version", "Version", 0, 1},
    {"msg_type", "Message Type", 1, 1, vals = EGP_TYPES},
    {"status", "Status", 2, 1, vals = EGP_STATUS, checked = true,
     note = function(v, values) return egp_status_name(values.msg_type, v) end},
    {"reserved", "Reserved", 3, 1},
    {"create_id", "Create ID", 4, 2},
    {"link_id", "Link ID", 6, 2},
    {"origin_node", "Origin Node", 8, 4},
    {"queue_seq", "Queue Sequence", 12, 4, note = function(v) if v == 0 then return "not numbered" end end},
})
local EGP_PAIR = layout(egp_reg, 28, {
    {"attempt_seq", "Attempt Sequence", 16, 8},
    {"sequence_number", "Sequence Number", 24, 2},
    {"reserved2", "Reserved", 26, 2},
})
local EGP_RUN = layout(egp_reg, 24, {
    {"run", "Run", 16, 4},
    {"pairs", "Pairs", 20, 2},
    {"reserved3", "Reserved", 22, 2},
})
register(egp, egp_reg, egp_ex, {egp_trailing})

local function egp_dissect(buf, pinfo, root)
    pinfo.cols.protocol = "EGP"
    local n = buf:len()
    local tree = proto_item(root, egp, buf, EGP_HEADER.size)
    local v, complete = add_fields(tree, buf, EGP_HEADER, egp_ex, "EGP header")
    if not complete then
        pinfo.cols.info:set("EGP [truncated]")
        return n
    end
    local status = egp_status_name(v.msg_type, v.status)
    local info = string.format("%s%s create_id=%d link=%d origin=%d qseq=%d", name_of(EGP_TYPES, v.msg_type),
                               status and " " .. status or "", v.create_id, v.link_id, v.origin_node, v.queue_seq)
    tree:append_text(", " .. info)
    local body = n - EGP_HEADER.size
    if EGP_BODY.pair[v.msg_type] then
        local p, whole = add_fields(tree, buf, EGP_PAIR, egp_ex, "EGP pair")
        if whole then
            info = info .. string.format(" attempt=%s seq=%d", tostring(p.attempt_seq), p.sequence_number)
            check_trailing(tree, buf, EGP_PAIR, egp_ex, egp_trailing)
        else
            info = info .. " [truncated]"
        end
    elseif EGP_BODY.run[v.msg_type] then
        local r, whole = add_fields(tree, buf, EGP_RUN, egp_ex, "EGP run")
        if whole then
            info = info .. string.format(" run=%d pairs=%d", r.run, r.pairs)
            check_trailing(tree, buf, EGP_RUN, egp_ex, egp_trailing)
        else
            info = info .. " [truncated]"
        end
    elseif v.msg_type == EGP_BODY.req then
        if body < CREATE_SIZE then
            snap.short(tree, egp_ex.short, string.format(
                "REQ carries a %d-byte CREATE, only %d bytes present", CREATE_SIZE, body))
            info = info .. " [truncated]"
        end
        if body > 0 then
            info = info .. " | " .. QLL.dissect_create(buf(EGP_HEADER.size):tvb(), pinfo, root)
        end
    elseif body > 0 then
        check_trailing(tree, buf, EGP_HEADER, egp_ex, egp_trailing)
    end
    pinfo.cols.info:set(info)
    return n
end

---------------------------------------------------------------------------------------------
-- TRACK: the P4 EGP and QNP headers of QuTech's v1quantum data plane (protocols/packets/qnp.py).
-- UDP port 7774: exactly 16 bytes, p4egp then qnp. Raw Ethernet: 0x4401 carries p4egp alone,
-- 0x4402 p4egp then qnp; what follows is Ethernet padding. Bell indices are P4's x<<1 | z.

local P4_BELL = {[0] = "PHI_PLUS", [1] = "PHI_MINUS", [2] = "PSI_PLUS", [3] = "PSI_MINUS"}
local p4egp = Proto("p4egp", "P4 EGP header (QuTech v1quantum egp_t)")
local p4egp_reg = registry("p4egp")
local p4egp_ex = expert_set("p4egp", "P4 EGP")
local P4_EGP = layout(p4egp_reg, 8, {
    {"link_label", "Link Label", 0, 2, hex = true},
    {"pair_seq", "Pair Sequence", 2, 2},
    {"bell_index", "Bell Index (P4 encoding)", 4, 4, mask = 0xC0000000, vals = P4_BELL},
    {"reserved", "Reserved", 4, 4, mask = 0x3FFFFFFF},
})
register(p4egp, p4egp_reg, p4egp_ex)

local qnp = Proto("qnp", "P4 QNP header (QuTech v1quantum qnp_t)")
local qnp_reg = registry("qnp")
local qnp_ex = expert_set("qnp", "QNP")
local qnp_trailing = ProtoField.bytes("qnp.trailing_bytes", "Trailing bytes")
local P4_QNP = layout(qnp_reg, 8, {
    {"circuit_id", "Circuit ID", 0, 2, hex = true},
    {"pair_id", "Pair ID", 2, 2},
    {"bell_index", "Bell Index (P4 encoding)", 4, 4, mask = 0xC0000000, vals = P4_BELL},
    {"reserved", "Reserved", 4, 4, mask = 0x3FFFFFFF},
})
register(qnp, qnp_reg, qnp_ex, {qnp_trailing})

-- with_qnp: a TRACK (EGP + QNP); on_udp: the datagram is the message (else Ethernet padding may follow).
-- Returns the bytes consumed.
local function dissect_track(buf, pinfo, root, with_qnp, on_udp)
    local n = buf:len()
    pinfo.cols.protocol = with_qnp and "QNP" or "P4EGP"
    local title = with_qnp and "TRACK" or "P4 EGP"
    local egp_tree = proto_item(root, p4egp, buf, P4_EGP.size)
    local e, complete = add_fields(egp_tree, buf, P4_EGP, p4egp_ex, "P4 EGP header")
    if not complete then
        pinfo.cols.info:set(title .. " [truncated]")
        return n
    end
    local link = string.format("link=0x%04x seq=%d bell=%s", e.link_label, e.pair_seq,
                               name_of(P4_BELL, e.bell_index))
    egp_tree:append_text(", " .. link)
    if not with_qnp then
        pinfo.cols.info:set("P4 EGP " .. link)
        return P4_EGP.size
    end
    local qnp_tree
    if n > P4_EGP.size then
        qnp_tree = proto_item(root, qnp, buf(P4_EGP.size):tvb(), P4_QNP.size)
    else
        qnp_tree = root:add(qnp)
    end
    local q
    q, complete = add_fields(qnp_tree, buf, P4_QNP, qnp_ex, "P4 QNP header", P4_EGP.size)
    if not complete then
        pinfo.cols.info:set("TRACK [truncated] | " .. link)
        return n
    end
    local info = string.format("TRACK circuit=0x%04x pair_id=%d bell=%s", q.circuit_id, q.pair_id,
                               name_of(P4_BELL, q.bell_index))
    qnp_tree:append_text(", " .. info)
    pinfo.cols.info:set(info .. " | " .. link)
    local size = P4_EGP.size + P4_QNP.size
    if not on_udp then return size end
    if n > size then
        local item = qnp_tree:add(qnp_trailing, buf(size))
        item:add_proto_expert_info(qnp_ex.trailing, string.format(
            "%d bytes after the %d-byte TRACK", n - size, size))
    end
    return n
end

function p4egp.dissector(buf, pinfo, root)          -- EtherType 0x4401
    snap.mark(buf)
    return dissect_track(buf, pinfo, root, false, false)
end

local function qnp_dissect(buf, pinfo, root)        -- UDP port 7774, EtherType 0x4402
    return dissect_track(buf, pinfo, root, true, pinfo.match_uint ~= ETHERTYPE_P4_QNP)
end

---------------------------------------------------------------------------------------------
-- QNCP: the network layer's control protocol (protocols/packets/qncp*.py), UDP port 7775.

local QNCP_TYPES = {[1] = "SETUP", [2] = "SETUP_ACK", [3] = "SETUP_REPLY", [4] = "SETUP_REPLY_ACK",
                    [5] = "TRACK_ACK", [6] = "EXPIRE", [7] = "EXPIRE_ACK", [8] = "CREDIT", [9] = "CREDIT_ACK",
                    [10] = "CONFIRM", [11] = "CONFIRM_ACK", [12] = "COMPLETE", [13] = "COMPLETE_ACK",
                    [14] = "TEARDOWN", [15] = "TEARDOWN_ACK", [16] = "DISTIL", [17] = "DISTIL_ACK"}
local QNCP_STATUS = {[0] = "OK"}
for k, v in pairs(ERROR_CODES) do QNCP_STATUS[k] = v end
local QNCP_REASONS = {[0] = "NONE", [1] = "CUTOFF", [2] = "SWAP_FAILED", [3] = "LINK_EXPIRED", [4] = "UNKNOWN",
                      [5] = "TEARDOWN"}
local CREDIT_KINDS = {[0] = "RELEASED", [1] = "READY"}
local DISTIL_SCOPES = {[0] = "HOP", [1] = "END_TO_END"}
local DISTIL_PROTOCOLS = {[1] = "BBPSSW", [2] = "DEJMPS"}
local DISTIL_OUTCOMES = {[0] = "0", [1] = "1"}
local QNCP_SETUP, QNCP_SETUP_REPLY = 1, 3
local HOP_ACK_TYPES = {[2] = true, [4] = true}
local PAIR_TYPES = {[5] = true, [6] = true, [7] = true, [8] = true, [9] = true}
local CREDIT_TYPES = {[8] = true, [9] = true}
local CONFIRM_TYPES = {[10] = true, [11] = true}
local DISTIL_TYPES = {[16] = true, [17] = true}
local MAX_OPTIONS = 16

local qncp = Proto("qncp", "QNet Network Control Protocol")
local qncp_reg = registry("qncp")
local qncp_ex = expert_set("qncp", "QNCP")
qncp_ex.bad_length = ProtoExpert.new("qncp.bad_length", "QNCP Length field differs from the message length",
                                     expert.group.MALFORMED, expert.severity.ERROR)
qncp_ex.bad_count = ProtoExpert.new("qncp.bad_count", "QNCP hop count, hop index or option count out of range",
                                    expert.group.MALFORMED, expert.severity.ERROR)
local qncp_trailing = ProtoField.bytes("qncp.trailing_bytes", "Trailing bytes")

local function ns_note(v)
    if tostring(v) == "18446744073709551615" then return "infinite" end
end
local function none_if_zero(v) if tostring(v) == "0" then return "none" end end
local DISTIL_SCHEDULES = {[0] = "recurrence", [1] = "pumping"}
-- A distillation rule byte: Protocol(2) Schedule(2) Rounds(4) (wire.md §9.3.3); nil if undefined (the codec's
-- ParseError: flagged qncp.undefined_value through the spec's `defined`).
-- (One table: a Lua chunk has at most 200 locals.)
local distil = {}
function distil.note(v)
    if v == 0 then return "none" end
    local protocol, schedule, rounds = math.floor(v / 64), math.floor(v / 16) % 4, v % 16
    local name = ({[1] = "BBPSSW", [2] = "DEJMPS"})[protocol]
    if name == nil or DISTIL_SCHEDULES[schedule] == nil or rounds == 0 then return nil end
    return string.format("%s %s, %d round%s", name, DISTIL_SCHEDULES[schedule], rounds, rounds == 1 and "" or "s")
end
function distil.defined(v) return distil.note(v) ~= nil end
local function probability_note(v) return string.format("p = %.6g", v / 4294967295) end
local function share_note(v) return string.format("p = %.4f", v / FIDELITY_SCALE) end
local function bsm_note(v) return string.format("q = %.4f", v / 255) end

local QNCP_HEADER = layout(qncp_reg, 12, {
    {"version", "Version", 0, 1},
    {"msg_type", "Message Type", 1, 1, vals = QNCP_TYPES},
    {"status", "Status", 2, 1, vals = QNCP_STATUS},
    {"reason", "Reason", 3, 1, vals = QNCP_REASONS},
    {"circuit_id", "Circuit ID", 4, 2, hex = true},
    {"length", "Length", 6, 2},
    {"head_node", "Head Node", 8, 4},
})
local QNCP_HOP_ACK = layout(qncp_reg, 16, {
    {"hop_index", "Hop Index", 12, 1},
    {"reserved", "Reserved", 13, 3},
})
local PAIR_SPECS = {
    {"link_label", "Link Label", 12, 2, hex = true},
    {"pair_seq", "Pair Sequence", 14, 2},
    {"link_id", "Link ID", 16, 2},
    {"window", "Window", 18, 1},
}
local function with(specs, extra)
    local all = {}
    for _, s in ipairs(specs) do table.insert(all, s) end
    table.insert(all, extra)
    return all
end
local QNCP_PAIR = layout(qncp_reg, 20, with(PAIR_SPECS, {"reserved", "Reserved", 19, 1}))
local QNCP_CREDIT = layout(qncp_reg, 20, with(PAIR_SPECS, {"credit", "Credit", 19, 1, vals = CREDIT_KINDS}))
local QNCP_CONFIRM = layout(qncp_reg, 24, {
    {"e2e_seq", "End-to-End Sequence", 12, 2},
    {"head_pair_seq", "Head Pair Sequence", 14, 2},
    {"tail_pair_seq", "Tail Pair Sequence", 16, 2},
    {"bell_state", "Bell State", 18, 1, vals = BELL_STATES},
    {"reserved", "Reserved", 19, 1},
    {"goodness", "Goodness", 20, 2, note = fidelity_note},
    {"reserved2", "Reserved", 22, 2},
})
local QNCP_END = layout(qncp_reg, 16, {{"sender_node", "Sender Node", 12, 4}})
local QNCP_DISTIL = layout(qncp_reg, 24, {
    {"link_label", "Link Label", 12, 2, hex = true},
    {"kept_pair_seq", "Kept Pair Sequence", 14, 2},
    {"link_id", "Link ID", 16, 2},
    {"scope", "Scope", 18, 1, vals = DISTIL_SCOPES},
    {"protocol", "Protocol", 19, 1, vals = DISTIL_PROTOCOLS},
    {"sacrificed_pair_seq", "Sacrificed Pair Sequence", 20, 2},
    {"level", "Level", 22, 1},
    {"outcome_reserved", "Outcome Reserved", 23, 1, mask = 0xF0, vals = {[0] = "0"}},
    {"survivor", "Survivor Bell State (END_TO_END)", 23, 1, mask = 0x0C, vals = BELL_STATES},
    {"keep_parity", "Keep Parity (END_TO_END)", 23, 1, mask = 0x02},
    {"outcome", "Outcome", 23, 1, mask = 0x01, vals = DISTIL_OUTCOMES},
})
local QNCP_SETUP_FIXED = layout(qncp_reg, 24, {
    {"tail_node", "Tail Node", 12, 4},
    {"create_id", "Create ID", 16, 2},
    {"hop_count", "Hop Count", 18, 1},
    {"hop_index", "Hop Index", 19, 1},
    {"window", "Window", 20, 1},
    {"reserved", "Reserved", 21, 3},
})
local QNCP_REPLY_FIXED = layout(qncp_reg, 56, {
    {"tail_node", "Tail Node", 12, 4},
    {"reporting_node", "Reporting Node", 16, 4},
    {"hop_count", "Hop Count", 20, 1},
    {"window", "Window", 21, 1},
    {"end_distil", "End-to-End Distil", 22, 1, note = distil.note, defined = distil.defined},
    {"reserved", "Reserved", 23, 1},
    {"cutoff_ns", "Cutoff (ns)", 24, 8, note = none_if_zero},
    {"end_cutoff_ns", "End Cutoff (ns)", 32, 8, note = none_if_zero},
    {"expected_pair_time_ns", "Expected Time per Pair (ns)", 40, 8},
    {"model_fidelity", "Model Fidelity", 48, 2, note = fidelity_note},
    {"model_error_x", "Model Error X", 50, 2, note = share_note},
    {"model_error_z", "Model Error Z", 52, 2, note = share_note},
    {"model_error_y", "Model Error Y", 54, 2, note = share_note},
})
local QNCP_ROUTE_NODE = layout(qncp_reg, 4, {{"route_node", "Route Node", 0, 4}})
local QNCP_NODECAP = layout(qncp_reg, 36, {
    {"node_id", "Node ID", 0, 4},
    {"comm_qubits", "Communication Qubits", 4, 1},
    {"storage_qubits", "Storage Qubits", 5, 1},
    {"free_qubits", "Free Qubits", 6, 1},
    {"bsm_success", "BSM Success", 7, 1, note = bsm_note},
    {"t1_ns", "T1 (ns)", 8, 8, note = ns_note},
    {"t2_ns", "T2 (ns)", 16, 8, note = ns_note},
    {"gate_fidelity", "Gate Fidelity", 24, 2, note = fidelity_note},
    {"readout_fidelity", "Readout Fidelity", 26, 2, note = fidelity_note},
    {"gate_time_ns", "Gate Time (ns)", 28, 4},
    {"readout_time_ns", "Readout Time (ns)", 32, 4},
})
local QNCP_LINKCAP = layout(qncp_reg, 20, {
    {"link_id", "Link ID", 0, 2},
    {"link_label", "Link Label", 2, 2, hex = true},
    {"peer_node", "Peer Node", 4, 4},
    {"attempt_cycle_ns", "Attempt Cycle (ns)", 8, 4},
    {"one_way_delay_ns", "Classical One-Way Delay (ns)", 12, 4},
    {"option_count", "Options", 16, 1},
    {"link_reserved", "Reserved", 17, 3},
})
local QNCP_OPTION = layout(qncp_reg, 12, {
    {"success_probability", "Success Probability", 0, 4, note = probability_note},
    {"fidelity", "Fidelity", 4, 2, note = fidelity_note},
    {"error_x", "Error X", 6, 2, note = share_note},
    {"error_z", "Error Z", 8, 2, note = share_note},
    {"error_y", "Error Y", 10, 2, note = share_note},
})
local QNCP_RULE = layout(qncp_reg, 12, {
    {"link_id", "Link ID", 0, 2},
    {"link_label", "Link Label", 2, 2, hex = true},
    {"origin_node", "Origin Node", 4, 4},
    {"link_min_fidelity", "Link Minimum Fidelity", 8, 2, note = fidelity_note},
    {"distil", "Distil", 10, 1, note = distil.note, defined = distil.defined},
    {"rule_reserved", "Reserved", 11, 1},
})
register(qncp, qncp_reg, qncp_ex, {qncp_trailing}, {qncp_ex.bad_length, qncp_ex.bad_count})

-- A subtree for `size` bytes at `offset` (what is there of them), or `tree` itself past the end.
local function subtree(tree, buf, offset, size, label)
    local n = buf:len()
    if offset >= n then return tree end
    return tree:add(buf(offset, math.min(size, n - offset)), label)
end

local function flag_trailing(tree, buf, size)
    if buf:len() > size then
        local item = tree:add(qncp_trailing, buf(size))
        item:add_proto_expert_info(qncp_ex.trailing, string.format(
            "%d bytes after the %d-byte message", buf:len() - size, size))
    end
end

-- Route entries from `offset`; returns the offset after them (nil if the message ends first) and the text.
local function add_route(tree, buf, offset, entries)
    local sub = subtree(tree, buf, offset, 4 * entries, string.format("Route (%d nodes)", entries))
    local nodes = {}
    for i = 0, entries - 1 do
        local r, whole = add_fields(sub, buf, QNCP_ROUTE_NODE, qncp_ex, "Route node", offset + 4 * i)
        if not whole then return nil end
        table.insert(nodes, tostring(r.route_node))
    end
    return offset + 4 * entries, table.concat(nodes, ",")
end

-- One QCap (NodeCap + LinkCap + options) from `offset`; returns the offset after it, or nil.
local function add_qcap(tree, buf, offset, index)
    local node = subtree(tree, buf, offset, QNCP_NODECAP.size, string.format("QCap %d: NodeCap", index))
    local nc, whole = add_fields(node, buf, QNCP_NODECAP, qncp_ex, "NodeCap", offset)
    if not whole then return nil end
    node:append_text(string.format(" node=%d free=%d", nc.node_id, nc.free_qubits))
    offset = offset + QNCP_NODECAP.size
    local link = subtree(tree, buf, offset, QNCP_LINKCAP.size, string.format("QCap %d: LinkCap", index))
    local lc
    lc, whole = add_fields(link, buf, QNCP_LINKCAP, qncp_ex, "LinkCap", offset)
    if not whole then return nil end
    link:append_text(string.format(" link=%d label=0x%04x peer=%d", lc.link_id, lc.link_label, lc.peer_node))
    if lc.option_count > MAX_OPTIONS then
        link:add_proto_expert_info(qncp_ex.bad_count, string.format(
            "%d options, at most %d", lc.option_count, MAX_OPTIONS))
    end
    offset = offset + QNCP_LINKCAP.size
    for i = 1, lc.option_count do
        local opt = subtree(link, buf, offset, QNCP_OPTION.size, string.format("Option %d", i))
        _, whole = add_fields(opt, buf, QNCP_OPTION, qncp_ex, "Link option", offset)
        if not whole then return nil end
        offset = offset + QNCP_OPTION.size
    end
    return offset
end

local function dissect_setup(buf, pinfo, root, tree, h)
    local s, whole = add_fields(tree, buf, QNCP_SETUP_FIXED, qncp_ex, "SETUP")
    if not whole then return "[truncated]" end
    if s.hop_index < 1 or s.hop_index > s.hop_count then
        tree:add_proto_expert_info(qncp_ex.bad_count, string.format(
            "Hop Index %d is not in 1..Hop Count (%d)", s.hop_index, s.hop_count))
    end
    local info = string.format("tail=%d hop=%d/%d create_id=%d window=%d", s.tail_node, s.hop_index,
                               s.hop_count, s.create_id, s.window)
    local n = buf:len()
    if n <= QNCP_SETUP_FIXED.size then
        snap.short(tree, qncp_ex.short, "SETUP ends before its CREATE")
        return info .. " [truncated]"
    end
    local create_info = QLL.dissect_create(buf(QNCP_SETUP_FIXED.size,
                                                math.min(CREATE_SIZE, n - QNCP_SETUP_FIXED.size)):tvb(), pinfo, root)
    if n < QNCP_SETUP_FIXED.size + CREATE_SIZE then
        snap.short(tree, qncp_ex.short, "SETUP ends inside its CREATE")
        return info .. " [truncated]"
    end
    local offset, route = add_route(tree, buf, QNCP_SETUP_FIXED.size + CREATE_SIZE, s.hop_count + 1)
    if offset == nil then return info .. " [truncated]" end
    info = info .. " route=" .. route
    for i = 1, s.hop_index do
        offset = add_qcap(tree, buf, offset, i)
        if offset == nil then return info .. " [truncated]" end
    end
    flag_trailing(tree, buf, offset)
    return info .. " | " .. create_info
end

local function dissect_setup_reply(buf, pinfo, root, tree, h)
    local r, whole = add_fields(tree, buf, QNCP_REPLY_FIXED, qncp_ex, "SETUP_REPLY")
    if not whole then return "[truncated]" end
    if (h.status == 0) ~= (r.hop_count > 0) then
        tree:add_proto_expert_info(qncp_ex.bad_count, string.format(
            "Status %d with Hop Count %d (accepted needs hops, a refusal none)", h.status, r.hop_count))
    end
    local info = string.format("tail=%d reporting=%d", r.tail_node, r.reporting_node)
    if r.hop_count > 0 then
        info = info .. string.format(" window=%d cutoff=%sns end_cutoff=%sns model_fidelity=%.4f", r.window,
                                     tostring(r.cutoff_ns), tostring(r.end_cutoff_ns),
                                     r.model_fidelity / FIDELITY_SCALE)
    end
    local offset, route = QNCP_REPLY_FIXED.size, nil
    if r.hop_count > 0 then
        offset, route = add_route(tree, buf, offset, r.hop_count + 1)
        if offset == nil then return info .. " [truncated]" end
        info = info .. " route=" .. route
    end
    for i = 1, r.hop_count do
        local rule = subtree(tree, buf, offset, QNCP_RULE.size, string.format("Hop %d rule", i))
        local v
        v, whole = add_fields(rule, buf, QNCP_RULE, qncp_ex, "Hop rule", offset)
        if not whole then return info .. " [truncated]" end
        rule:append_text(string.format(" link=%d label=0x%04x origin=%d", v.link_id, v.link_label, v.origin_node))
        offset = offset + QNCP_RULE.size
    end
    flag_trailing(tree, buf, offset)
    return info
end

-- Fixed-size messages: the layout and the Info text of the body.
local function fixed_body(msg_type)
    if HOP_ACK_TYPES[msg_type] then
        return QNCP_HOP_ACK, function(v) return string.format("hop=%d", v.hop_index) end
    elseif CREDIT_TYPES[msg_type] then
        return QNCP_CREDIT, function(v)
            return string.format("link=%d label=0x%04x seq=%d window=%d", v.link_id, v.link_label, v.pair_seq,
                                 v.window), name_of(CREDIT_KINDS, v.credit)
        end
    elseif PAIR_TYPES[msg_type] then
        return QNCP_PAIR, function(v)
            return string.format("link=%d label=0x%04x seq=%d", v.link_id, v.link_label, v.pair_seq)
        end
    elseif DISTIL_TYPES[msg_type] then
        return QNCP_DISTIL, function(v)
            local info = string.format("link=%d label=0x%04x kept=%d sacrificed=%d scope=%s protocol=%s level=%d "
                                       .. "outcome=%d", v.link_id, v.link_label, v.kept_pair_seq, v.sacrificed_pair_seq,
                                       name_of(DISTIL_SCOPES, v.scope), name_of(DISTIL_PROTOCOLS, v.protocol),
                                       v.level, v.outcome)
            if v.scope == 1 then      -- END_TO_END: the rest of the Outcome byte, by its fields' names (§9.3.8)
                info = info .. string.format(" keep_parity=%d survivor=%s", v.keep_parity,
                                             name_of(BELL_STATES, v.survivor))
            end
            return info
        end
    elseif CONFIRM_TYPES[msg_type] then
        return QNCP_CONFIRM, function(v)
            return string.format("n=%d head_seq=%d tail_seq=%d bell=%s goodness=%.4f", v.e2e_seq, v.head_pair_seq,
                                 v.tail_pair_seq, name_of(BELL_STATES, v.bell_state), v.goodness / FIDELITY_SCALE)
        end
    end
    return QNCP_END, function(v) return string.format("sender=%d", v.sender_node) end
end

local function qncp_dissect(buf, pinfo, root)
    pinfo.cols.protocol = "QNCP"
    local n = buf:len()
    local tree = proto_item(root, qncp, buf, n)
    local h, complete = add_fields(tree, buf, QNCP_HEADER, qncp_ex, "QNCP header")
    if not complete then
        pinfo.cols.info:set("QNCP [truncated]")
        return n
    end
    if h.length > n and snap.cut then
        tree:add_proto_expert_info(snap.expert, string.format("Length says %d bytes, %d captured", h.length, n))
    elseif h.length ~= n then
        tree:add_proto_expert_info(qncp_ex.bad_length, string.format(
            "Length says %d bytes, the message has %d", h.length, n))
    end
    local body, kind
    if QNCP_TYPES[h.msg_type] == nil then
        tree:add_proto_expert_info(qncp_ex.unknown, string.format("No QNCP message of Type %d", h.msg_type))
        body = "[unknown type]"
    elseif h.msg_type == QNCP_SETUP then
        body = dissect_setup(buf, pinfo, root, tree, h)
    elseif h.msg_type == QNCP_SETUP_REPLY then
        body = dissect_setup_reply(buf, pinfo, root, tree, h)
    else
        local lay, summary = fixed_body(h.msg_type)
        local v, whole = add_fields(tree, buf, lay, qncp_ex, QNCP_TYPES[h.msg_type])
        if whole then
            body, kind = summary(v)
            check_trailing(tree, buf, lay, qncp_ex, qncp_trailing)
            if DISTIL_TYPES[h.msg_type] and v.scope == 0 and (v.keep_parity ~= 0 or v.survivor ~= 0) then
                tree:add_proto_expert_info(qncp_ex.undefined, "HOP Outcome above 1 (keep parity and survivor are END_TO_END's)")
            end
        else
            body = "[truncated]"
        end
    end
    -- e.g. "EXPIRE CUTOFF circuit=0x0101 head=1 link=2 label=0x8001 seq=7", "CREDIT READY ...", "TEARDOWN DOWN ..."
    local info = name_of(QNCP_TYPES, h.msg_type)
    if kind ~= nil then info = info .. " " .. kind end
    if h.status ~= 0 then info = info .. " " .. name_of(QNCP_STATUS, h.status) end
    if h.reason ~= 0 then info = info .. " " .. name_of(QNCP_REASONS, h.reason) end
    info = info .. string.format(" circuit=0x%04x head=%d %s", h.circuit_id, h.head_node, body)
    tree:append_text(", " .. info)
    pinfo.cols.info:set(info)
    return n
end

---------------------------------------------------------------------------------------------
-- QTP: the transport layer's qubit transport protocol (protocols/packets/qtp.py), UDP port 7776.
-- 16 bytes: DATA carries teleportation's two correction bits and the pair's names, ACK and ERR answer it.

local QTP_TYPES = {[1] = "DATA", [2] = "ACK", [3] = "ERR"}
local QTP_ERRORS = {[0] = "NONE", [1] = "NOPAIR", [2] = "DEADLINE"}
local qtp = Proto("qtp", "QNet Qubit Transport Protocol")
local qtp_reg = registry("qtp")
local qtp_ex = expert_set("qtp", "QTP")
qtp_ex.inconsistent = ProtoExpert.new("qtp.inconsistent", "QTP fields inconsistent with the message type",
                                      expert.group.MALFORMED, expert.severity.ERROR)
local qtp_trailing = ProtoField.bytes("qtp.trailing_bytes", "Trailing bytes")
local QTP = layout(qtp_reg, 16, {
    {"version", "Version", 0, 1, mask = 0xF0},
    {"msg_type", "Type", 0, 1, mask = 0x0F, vals = QTP_TYPES},
    {"cx", "Correction X", 1, 1, mask = 0x80},
    {"cz", "Correction Z", 1, 1, mask = 0x40},
    {"reserved1", "Reserved", 1, 1, mask = 0x3F},
    {"purpose_id", "Purpose ID", 2, 2},
    {"transfer_seq", "Transfer Sequence", 4, 2},
    {"create_id", "Create ID", 6, 2},
    {"pair_seq", "Pair Sequence Number", 8, 2},
    {"origin_node", "Origin Node ID", 10, 2},
    {"error", "Error Code", 12, 1, vals = QTP_ERRORS},
    {"attempt", "Attempt", 13, 1},
    {"reserved2", "Reserved", 14, 2},
})
register(qtp, qtp_reg, qtp_ex, {qtp_trailing}, {qtp_ex.inconsistent})

local function qtp_dissect(buf, pinfo, root)
    local n = buf:len()
    pinfo.cols.protocol = "QTP"
    local tree = proto_item(root, qtp, buf, QTP.size)
    local v, complete = add_fields(tree, buf, QTP, qtp_ex, "QTP message")
    if not complete then
        pinfo.cols.info:set("QTP [truncated]")
        return n
    end
    check_trailing(tree, buf, QTP, qtp_ex, qtp_trailing)
    local kind = name_of(QTP_TYPES, v.msg_type)
    -- the pair by the network service's names: the request's origin node and Create ID, the pair's sequence number
    local pair = string.format("origin=%d create_id=%d seq=%d", v.origin_node, v.create_id, v.pair_seq)
    local info = string.format("%s purpose=%d transfer=%d %s", kind, v.purpose_id, v.transfer_seq, pair)
    if v.msg_type == 1 then
        info = info .. string.format(" correction=X%dZ%d", v.cx, v.cz)
    elseif v.msg_type == 3 then
        info = info .. " " .. name_of(QTP_ERRORS, v.error)
    end
    if v.attempt > 0 then info = info .. string.format(" attempt=%d", v.attempt) end
    local bad = v.reserved1 ~= 0 or v.reserved2 ~= 0 or (v.msg_type ~= 1 and (v.cx ~= 0 or v.cz ~= 0))
        or ((v.msg_type == 3) ~= (v.error ~= 0)) or (v.msg_type == 3 and QTP_ERRORS[v.error] == nil)
    if bad then
        tree:add_proto_expert_info(qtp_ex.inconsistent, "reserved bits, correction bits or error code do not "
                                                        .. "fit a " .. kind)
    end
    tree:append_text(", " .. info)
    pinfo.cols.info:set(info)
    return n
end

---------------------------------------------------------------------------------------------
-- Application messages (docs/wire.md section 11.2): datagrams between applications' ports (qnet run: 50000 + the
-- application's index; qnet up: the node's application slots, logical ports 49152-49173). Those that begin with E7 C4 are the API's reliable exchanges
-- (protocols/packets/exchange.py): Magic, Tag (32 bits), Flags (bit 0: a reply), the exchange's payload.
-- Any other application message is the application's own bytes (qapp.data).

-- (In a block: the main chunk is near Lua's limit of 200 local variables; QAPP carries out what is used below.)
local QAPP = {ports = "49152-49173,50000-51023"}
do
local EXCHANGE_HEADER, EXCHANGE_MAX = 7, 1400
local qapp = Proto("qapp", "QNet Application Message")
local qapp_reg = registry("qapp")
local qapp_ex = expert_set("qapp", "Application exchange")
qapp_ex.too_long = ProtoExpert.new("qapp.too_long", "Application message longer than 1,400 bytes",
                                   expert.group.MALFORMED, expert.severity.WARN)
local qapp_payload = ProtoField.bytes("qapp.payload", "Exchange payload")
local qapp_payload_len = ProtoField.uint16("qapp.payload_length", "Exchange payload length")
local qapp_data = ProtoField.bytes("qapp.data", "Application data")
local EXCHANGE = layout(qapp_reg, EXCHANGE_HEADER, {
    {"magic", "Magic", 0, 2},
    {"tag", "Tag", 2, 4},
    {"flags", "Flags", 6, 1},
    {"reserved", "Reserved", 6, 1, mask = 0xFE},
    {"reply", "Reply", 6, 1, mask = 0x01},
})
register(qapp, qapp_reg, qapp_ex, {qapp_payload, qapp_payload_len, qapp_data}, {qapp_ex.too_long})

local function qapp_dissect(buf, pinfo, root)
    local n = buf:len()
    pinfo.cols.protocol = "QAPP"
    local tree = proto_item(root, qapp, buf, n)
    if n > EXCHANGE_MAX then
        tree:add_proto_expert_info(qapp_ex.too_long, string.format("%d bytes, at most %d", n, EXCHANGE_MAX))
    end
    if n < 2 or buf(0, 2):uint() ~= 0xE7C4 then
        if n > 0 then tree:add(qapp_data, buf(0, n)) end
        local info = string.format("Application data, %d bytes", n)
        tree:append_text(", " .. info)
        pinfo.cols.info:set(info)
        return n
    end
    local v, complete = add_fields(tree, buf, EXCHANGE, qapp_ex, "Exchange message")
    if not complete then
        pinfo.cols.info:set("Exchange [truncated]")
        return n
    end
    if v.reserved ~= 0 then
        tree:add_proto_expert_info(qapp_ex.undefined,
                                   string.format("Reserved flag bits set (Flags 0x%02x)", v.flags))
    end
    local size = n - EXCHANGE_HEADER
    tree:add(qapp_payload_len, size):set_generated()
    if size > 0 then tree:add(qapp_payload, buf(EXCHANGE_HEADER, size)) end
    local info = string.format("Exchange tag=%d%s payload=%d bytes", v.tag, v.reply == 1 and " reply" or "", size)
    tree:append_text(", " .. info)
    pinfo.cols.info:set(info)
    return n
end
QAPP.proto, QAPP.dissect = qapp, qapp_dissect
end

---------------------------------------------------------------------------------------------
-- Registration

-- Wireshark's PTP dissector marks a malformed message itself (as on port 319); Dissector.call then also raises
-- a Lua error, which would add a second, misleading mark. The mark is there: swallow the error.
-- (One table: a Lua chunk has at most 200 locals.)
local ptp = {handle = Dissector.get("ptp")}
function ptp.call(buf, pinfo, root)
    local ok, consumed = pcall(ptp.handle.call, ptp.handle, buf, pinfo, root)
    if ok then return consumed end
    return buf:len()
end

---------------------------------------------------------------------------------------------
-- The authentication trailer (protocols/packets/auth.py, docs/wire.md section 10): the last 28 bytes of
-- every datagram between the nodes (on by default; qnet runs with [security] authenticate = false send
-- none: switch the preference off, tshark -o qnetauth.trailer:FALSE). The payload before it goes to the
-- protocol's own dissector (PTP on 319/320: Wireshark's); the trailer gets its own subtree after it.
-- Given the run secret (preference qnetauth.key, hex), every ICV is verified: qnetauth.icv_status.

local qnetauth = Proto("qnetauth", "QNet Authentication Trailer")
qnetauth.prefs.trailer = Pref.bool("Datagrams carry the trailer", true,
    "Every qnetstack datagram ends with the 28-byte authentication trailer (off for runs without it)")
local AUTH_SIZE = 28
local auth_sender = ProtoField.uint16("qnetauth.sender_id", "Sender ID")
local auth_receiver = ProtoField.uint16("qnetauth.receiver_id", "Receiver ID")
local auth_seq = ProtoField.uint64("qnetauth.seq", "Sequence Number")
local auth_icv = ProtoField.bytes("qnetauth.icv", "ICV (HMAC-SHA256-128)")
local ICV_STATUS = {[0] = "unverified", [1] = "good", [2] = "bad"}
local auth_status = ProtoField.uint8("qnetauth.icv_status", "ICV status", base.DEC, ICV_STATUS)
qnetauth.fields = {auth_sender, auth_receiver, auth_seq, auth_icv, auth_status}
local auth_ex = {
    short = ProtoExpert.new("qnetauth.missing", "Too short for the authentication trailer",
                            expert.group.MALFORMED, expert.severity.WARN),
    bad = ProtoExpert.new("qnetauth.bad_icv", "ICV does not verify under the run secret",
                          expert.group.SECURITY, expert.severity.WARN),
    bad_key = ProtoExpert.new("qnetauth.bad_key", "Preference qnetauth.key is not a run secret (an even number "
                              .. "of hex digits, at least 64, no 0x): the ICV is not verified",
                              expert.group.PROTOCOL, expert.severity.WARN),
}
qnetauth.experts = {auth_ex.short, auth_ex.bad, auth_ex.bad_key, snap.expert}
qnetauth.prefs.key = Pref.string("Run secret (hex)", "",
    "The run secret, as in the scenario's key file (hex, at least 64 digits): the ICVs are then verified")

-- SHA-256 (FIPS 180-4), HMAC (RFC 2104) and the pair keys' HKDF (RFC 5869), on Lua strings, for verifying
-- ICVs (docs/wire.md section 10.2). Words are kept in [0, 2^32).
local bxor32, band32, bor32, bnot32, rshift32, rrotate32
local M32 = 4294967296
if bit32 then
    bxor32, band32, bor32, bnot32, rshift32, rrotate32 = bit32.bxor, bit32.band, bit32.bor, bit32.bnot,
        bit32.rshift, bit32.rrotate
elseif bit then
    local function u(f) return function(...) return f(...) % M32 end end
    bxor32, band32, bor32, bnot32, rshift32, rrotate32 = u(bit.bxor), u(bit.band), u(bit.bor), u(bit.bnot),
        u(bit.rshift), u(bit.ror)
end
local SHA_K = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function sha256(msg)
    local h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}
    local bits = #msg * 8
    local tail = {}
    for i = 7, 0, -1 do tail[#tail + 1] = string.char(math.floor(bits / 256 ^ i) % 256) end
    msg = msg .. "\128" .. string.rep("\0", (55 - #msg) % 64) .. table.concat(tail)
    local w = {}
    for chunk = 1, #msg, 64 do
        for i = 0, 15 do
            local b1, b2, b3, b4 = msg:byte(chunk + 4 * i, chunk + 4 * i + 3)
            w[i] = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
        end
        for i = 16, 63 do
            local x, y = w[i - 15], w[i - 2]
            local s0 = bxor32(rrotate32(x, 7), rrotate32(x, 18), rshift32(x, 3))
            local s1 = bxor32(rrotate32(y, 17), rrotate32(y, 19), rshift32(y, 10))
            w[i] = (w[i - 16] + s0 + w[i - 7] + s1) % M32
        end
        local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
        for i = 0, 63 do
            local S1 = bxor32(rrotate32(e, 6), rrotate32(e, 11), rrotate32(e, 25))
            local ch = bxor32(band32(e, f), band32(bnot32(e), g))
            local t1 = (hh + S1 + ch + SHA_K[i + 1] + w[i]) % M32
            local S0 = bxor32(rrotate32(a, 2), rrotate32(a, 13), rrotate32(a, 22))
            local maj = bxor32(band32(a, b), band32(a, c), band32(b, c))
            local t2 = (S0 + maj) % M32
            hh, g, f, e, d, c, b, a = g, f, e, (d + t1) % M32, c, b, a, (t1 + t2) % M32
        end
        h[1], h[2], h[3], h[4] = (h[1] + a) % M32, (h[2] + b) % M32, (h[3] + c) % M32, (h[4] + d) % M32
        h[5], h[6], h[7], h[8] = (h[5] + e) % M32, (h[6] + f) % M32, (h[7] + g) % M32, (h[8] + hh) % M32
    end
    local out = {}
    for i = 1, 8 do
        local v = h[i]
        out[i] = string.char(math.floor(v / 16777216) % 256, math.floor(v / 65536) % 256,
                             math.floor(v / 256) % 256, v % 256)
    end
    return table.concat(out)
end

local function xor_pad(key, pad)
    local out = {}
    for i = 1, 64 do out[i] = string.char(bxor32(key:byte(i) or 0, pad)) end
    return table.concat(out)
end

local function hmac_sha256(key, msg)
    if #key > 64 then key = sha256(key) end
    return sha256(xor_pad(key, 0x5c) .. sha256(xor_pad(key, 0x36) .. msg))
end

local function u16(v) return string.char(math.floor(v / 256) % 256, v % 256) end

-- The pair key of a trailer under the preference's secret; nil without one, and then `auth_keys.invalid` says
-- whether a preference was given that is not a secret.
local auth_keys = {secret = nil, hex = nil, pairs = {}, invalid = false}
local function pair_key(sender, receiver)
    local hex = qnetauth.prefs.key:gsub("%s", "")
    if hex ~= auth_keys.hex then
        auth_keys.hex, auth_keys.pairs, auth_keys.secret, auth_keys.invalid = hex, {}, nil, false
        if #hex >= 64 and #hex % 2 == 0 and not hex:find("[^%x]") then
            auth_keys.secret = hex:gsub("%x%x", function(byte) return string.char(tonumber(byte, 16)) end)
        else
            auth_keys.invalid = hex ~= ""
        end
    end
    if auth_keys.secret == nil or bxor32 == nil then return nil end
    local id = sender * 65536 + receiver
    local key = auth_keys.pairs[id]
    if key == nil then
        local prk = hmac_sha256("qnetstack classical control v1", auth_keys.secret)
        key = hmac_sha256(prk, "qnetstack pair key" .. u16(sender) .. u16(receiver) .. "\1")
        auth_keys.pairs[id] = key
    end
    return key
end

-- The protocols' logical port of a UDP port: itself, or in a qnet up capture (qnetmp.base_port set) the
-- port its slot stands for (docs/wire.md section 8.1). Set once the port map's protocol exists.
local logical_port = function(port) return port end

-- Wireshark lists a protocol in frame.protocols (what `frame.protocols contains` and tshark -T fields read) only
-- when its dissector is called through its handle: a subtree a Lua function adds is in the tree (the `qnetauth`
-- filter and io,phs see it) but not there. So after adding the trailer's subtree, qnetauth's handle is called
-- on it to list the protocol after the message's (udp:qhp:qnetauth, the tree's order); that call adds
-- nothing visible. (Not the handle dissecting at the root: Wireshark 4.0 puts a hidden item of its own before
-- every Lua dissector's, which io,phs would show between the message and the trailer.) `handle` is set once
-- qnetauth.dissector exists; `listing` tells that dissector it is called only to be listed.
-- (One table: a Lua chunk has at most 200 locals.)
local auth_call = {handle = nil, listing = false}

-- Adds the trailer's subtree and returns it: the datagram's last 28 bytes as sent (its reported length), which a
-- capture cut by its snapshot length may not hold; `buf` is the whole datagram (the ICV covers the message before
-- the trailer).
function auth_call.dissect(buf, pinfo, root)
    local captured, n = buf:len(), buf:reported_len()
    if n < AUTH_SIZE then
        local tree = root:add(qnetauth, buf(0, captured))
        tree:add_proto_expert_info(auth_ex.short)
        return tree
    end
    if captured < n then
        local start = n - AUTH_SIZE
        local tree = start < captured and root:add(qnetauth, buf(start, captured - start)) or root:add(qnetauth)
        tree:append_text(" [not captured]")
        tree:add_proto_expert_info(snap.expert, string.format(
            "Trailer not captured: %d of the datagram's %d bytes are in the capture", captured, n))
        return tree
    end
    local t = buf(n - AUTH_SIZE, AUTH_SIZE)
    local tree = root:add(qnetauth, t)
    tree:add(auth_sender, t(0, 2))
    tree:add(auth_receiver, t(2, 2))
    tree:add(auth_seq, t(4, 8))
    tree:add(auth_icv, t(12, 16))
    local key = pair_key(t(0, 2):uint(), t(2, 2):uint())
    if key == nil then
        local item = tree:add(auth_status, 0)
        item:set_generated()
        if auth_keys.invalid then item:add_proto_expert_info(auth_ex.bad_key) end
    else
        local header = t:raw(0, 4) .. u16(logical_port(pinfo.src_port)) .. u16(logical_port(pinfo.dst_port))
                       .. t:raw(4, 8)
        local icv = hmac_sha256(key, header .. buf:raw(0, n - AUTH_SIZE)):sub(1, 16)
        local good = icv == t:raw(12, 16)
        local item = tree:add(auth_status, good and 1 or 2)
        item:set_generated()
        if not good then item:add_proto_expert_info(auth_ex.bad) end
    end
    tree:append_text(string.format(", node %d to node %d, seq %s", t(0, 2):uint(), t(2, 2):uint(),
                                   tostring(t(4, 8):uint64())))
    return tree
end

-- The trailer's subtree, then qnetauth listed in frame.protocols (above).
function auth_call.layer(buf, pinfo, root)
    local tree = auth_call.dissect(buf, pinfo, root)
    auth_call.listing = true
    local ok, err = pcall(auth_call.handle.call, auth_call.handle, buf, pinfo, tree)
    auth_call.listing = false
    if not ok then error(err) end
end

-- Dissects `buf` with `inner(body, pinfo, root, ...)`, the body being `buf` without its trailer (by the datagram's
-- reported length), then the trailer with `trailer(buf, pinfo, root)`. An empty body (a datagram of just the
-- trailer) is dissected too: its message is flagged short.
function auth_call.with(trailer, buf, pinfo, root, inner, ...)
    snap.mark(buf)
    local captured, n = buf:len(), buf:reported_len()
    if not qnetauth.prefs.trailer then return inner(buf, pinfo, root, ...) end
    if n < AUTH_SIZE then
        trailer(buf, pinfo, root)
        return inner(buf, pinfo, root, ...)
    end
    inner(buf(0, math.min(captured, n - AUTH_SIZE)):tvb(), pinfo, root, ...)
    trailer(buf, pinfo, root)
    return captured < n and captured or n
end
local function with_trailer(buf, pinfo, root, inner, ...)
    return auth_call.with(auth_call.layer, buf, pinfo, root, inner, ...)
end

-- Which UDP traffic is ours (docs/wire.md §6, "What the dissector claims"): a datagram on one of the protocols'
-- ports (7770-7776, 319/320, the application ranges) is dissected only between two addresses of the emulator's
-- 198.18.0.0/15 (§2.1: every qnet run and qnet up capture), so that installing the plugin leaves other traffic on
-- those ports (a real PTP network, an ephemeral port in 49152-65535) to Wireshark's own dissectors. Preference
-- qnetauth.any_address claims every address (a capture replayed or rewritten onto other addresses). qnet up's
-- live loopback ports are claimed by qnetmp (its base_port preference), whatever the addresses.
-- (One table: a Lua chunk has at most 200 locals.)
local claim = {}
qnetauth.prefs.any_address = Pref.bool("Dissect every address", false,
    "Dissect datagrams on the qnetstack ports between any addresses, not only the emulator's 198.18.0.0/15")
function claim.emulated(address)
    local a, b = tostring(address):match("^(%d+)%.(%d+)%.%d+%.%d+$")
    return a == "198" and (b == "18" or b == "19")
end
function claim.ours(pinfo)
    return qnetauth.prefs.any_address or (claim.emulated(pinfo.net_src) and claim.emulated(pinfo.net_dst))
end

-- Each protocol's own dissector, without the trailer (the multi-process slots below call these), and
-- registered on its UDP port, cutting the trailer off first (P4 QNP on its EtherType carries none); a datagram
-- that is not ours (above) is left to Wireshark (0: the UDP dissector tries the other port, heuristics, data).
-- (Lua functions, not the protos' dissector handles: assigning a proto's dissector changes what its handle calls.)
local RAW = {qhp = qhp_dissect, qll = QLL.dissect_port, egp = egp_dissect, qns = QNS.dissect_port,
             qnp = qnp_dissect, qncp = qncp_dissect, qtp = qtp_dissect, qapp = QAPP.dissect}
local function authenticated(raw)
    return function(buf, pinfo, root)
        if not claim.ours(pinfo) then return 0 end
        return with_trailer(buf, pinfo, root, raw)
    end
end
qhp.dissector = authenticated(RAW.qhp)
QLL.proto.dissector = authenticated(RAW.qll)
egp.dissector = authenticated(RAW.egp)
QNS.proto.dissector = authenticated(RAW.qns)
qncp.dissector = authenticated(RAW.qncp)
qtp.dissector = authenticated(RAW.qtp)
QAPP.proto.dissector = authenticated(RAW.qapp)
function qnp.dissector(buf, pinfo, root)
    if pinfo.match_uint == ETHERTYPE_P4_QNP then
        snap.mark(buf)
        return RAW.qnp(buf, pinfo, root)
    end
    if not claim.ours(pinfo) then return 0 end
    return with_trailer(buf, pinfo, root, RAW.qnp)
end

local udp_port = DissectorTable.get("udp.port")
udp_port:add(HERALD_PORT, qhp)
udp_port:add(LINK_SERVICE_PORT, QLL.proto)
udp_port:add(EGP_PORT, egp)
udp_port:add(NETWORK_SERVICE_PORT, QNS.proto)
udp_port:add(QNP_PORT, qnp)
udp_port:add(QNCP_PORT, qncp)

-- PTP (UDP 319/320) keeps Wireshark's own dissector: with the trailer, qnetauth takes the ports and hands it
-- the message before the trailer.
local PTP_PORTS = {319, 320}
-- There qnetauth is the port's dissector, so Wireshark lists it before ptp (udp:qnetauth:ptp), and the trailer
-- is dissected in place rather than through the handle a second time.
function qnetauth.dissector(buf, pinfo, root)
    if auth_call.listing then return math.max(buf:reported_len(), 1) end
    if not claim.ours(pinfo) then return ptp.call(buf, pinfo, root) end       -- someone else's PTP: no trailer
    return auth_call.with(auth_call.dissect, buf, pinfo, root, ptp.call)
end
auth_call.handle = Dissector.get("qnetauth")
local function auth_register()
    for _, port in ipairs(PTP_PORTS) do
        if qnetauth.prefs.trailer then udp_port:add(port, qnetauth) else udp_port:add(port, ptp.handle) end
    end
end
function qnetauth.prefs_changed() auth_register() end
auth_register()

udp_port:add(QTP_PORT, qtp)
udp_port:add(QAPP.ports, QAPP.proto)
local ethertype = DissectorTable.get("ethertype")
ethertype:add(QFRAME_ETHERTYPE, qframe)
ethertype:add(ETHERTYPE_P4_EGP, p4egp)
ethertype:add(ETHERTYPE_P4_QNP, qnp)

---------------------------------------------------------------------------------------------
-- Multi-process mode (qnet up, docs/wire.md section 8): live traffic on the loopback
-- interface uses the port map  real port = base + 32 * node_id + slot. Set the preference
-- (tshark -o qnetmp.base_port:40000) and every mapped port is dissected by its slot:
-- 31 the timestamp sideband (sent from the sender's service port, so it is checked first),
-- 0 qhp, 1 link-layer service, 2 egp, 3-4 PTP (Wireshark's own dissector), 5 network-layer
-- service, 6 TRACK, 7 qncp, 8 qtp, 9-30 applications: their datagrams to or from slot 1 or 5 are link-layer or
-- network-layer service (the lower slot first), those between two application slots qapp.

local qnetmp = Proto("qnetmp", "QNet multi-process port map")
qnetmp.prefs.base_port = Pref.uint("Base port", 0,
    "First UDP port of the qnet up port map (0: off); node i's slot s is base + 32*i + s")
local mp_arrival = ProtoField.int64("qnetmp.arrival", "Arrival (emulated ns)")
local mp_digest = ProtoField.bytes("qnetmp.digest", "Payload digest (BLAKE2b-64)")
local mp_node = ProtoField.uint16("qnetmp.node_id", "Destination node id")
qnetmp.fields = {mp_arrival, mp_digest, mp_node}
local MP_PORTS_PER_NODE, MP_MAX_NODES, MP_SIDEBAND = 32, 1024, 31
local mp_registered = nil

-- slot -> dissector(buf, pinfo, root, to_slot), to_slot: the datagram is addressed to this slot.
-- Like Wireshark's UDP port table, the lower of the two slots is tried first (slots are in port order):
-- the network layer's link requests (7773 to 7771) are link-layer service, its applications' CREATEs
-- network-layer service.
local MP_SLOTS = {
    [0] = RAW.qhp,
    [1] = QLL.dissect,
    [2] = RAW.egp,
    [3] = ptp.call,
    [4] = ptp.call,
    [5] = QNS.dissect,
    [6] = function(buf, pinfo, root) return dissect_track(buf, pinfo, root, true, true) end,
    [7] = RAW.qncp,
    [8] = RAW.qtp,
}
-- Applications' slots 9-30: tried after slots 1 and 5 (their services). (A function of its own: a loop's control
-- variables would be locals of the main chunk, which is at Lua's limit of 200.)
;(function() for slot = 9, 30 do MP_SLOTS[slot] = RAW.qapp end end)()

function qnetmp.dissector(buf, pinfo, root)
    local base = qnetmp.prefs.base_port
    local dslot = (pinfo.dst_port - base) % MP_PORTS_PER_NODE
    local sslot = (pinfo.src_port - base) % MP_PORTS_PER_NODE
    if dslot == MP_SIDEBAND and buf:len() == 16 then
        pinfo.cols.protocol = "QNETMP"
        local tree = root:add(qnetmp, buf(0, 16))
        tree:add(mp_node, math.floor((pinfo.dst_port - base) / MP_PORTS_PER_NODE))
        tree:add(mp_arrival, buf(0, 8))
        tree:add(mp_digest, buf(8, 8))
        pinfo.cols.info:set(string.format("timestamp sideband arrival=%sns", tostring(buf(0, 8):int64())))
        return 16
    end
    local first, second = math.min(dslot, sslot), math.max(dslot, sslot)
    for _, slot in ipairs({first, second}) do
        local dissect = MP_SLOTS[slot]
        if dissect ~= nil then return with_trailer(buf, pinfo, root, dissect, slot == dslot) end
    end
    return 0
end

local function mp_register()
    local udp = DissectorTable.get("udp.port")
    if mp_registered ~= nil then
        udp:remove(mp_registered, qnetmp)
        mp_registered = nil
    end
    local base = qnetmp.prefs.base_port
    if base > 0 and base + MP_PORTS_PER_NODE <= 65535 then
        local last = math.min(65535, base + MP_PORTS_PER_NODE * (MP_MAX_NODES + 1) - 1)
        mp_registered = string.format("%d-%d", base + MP_PORTS_PER_NODE, last)
        udp:add(mp_registered, qnetmp)
    end
end

local MP_SLOT_PORTS = {[0] = HERALD_PORT, [1] = LINK_SERVICE_PORT, [2] = EGP_PORT, [3] = 319, [4] = 320,
                       [5] = NETWORK_SERVICE_PORT, [6] = QNP_PORT, [7] = QNCP_PORT, [8] = QTP_PORT}
logical_port = function(port)
    local base = qnetmp.prefs.base_port
    if base == 0 or port < base + MP_PORTS_PER_NODE then return port end
    local slot = (port - base) % MP_PORTS_PER_NODE
    return MP_SLOT_PORTS[slot] or 49152 + slot - 9
end

function qnetmp.prefs_changed() mp_register() end
mp_register()
