-- qnetstack.lua: Wireshark dissectors for the qnetstack wire formats (see docs/wire.md).
--
-- Wireshark/tshark 4.0 or later (Lua 5.2; 5.3+ should work too). Usage:
--   wireshark -X lua_script:wireshark/qnetstack.lua capture.pcap
--   tshark -X lua_script:$PWD/wireshark/qnetstack.lua -r capture.pcap -V
-- or copy this file into ~/.local/lib/wireshark/plugins/.
--
-- Protocols (display-filter prefixes):
--   qhp     heralding protocol, HERALD / REPORT     UDP port 7770
--   qll     link-layer service (draft-dahlberg-ll-quantum-03 section 4):
--           CREATE (to port 7771), ACK / OK_K / OK_M / ERR (from port 7771, by Type nibble)
--   egp     link-layer peer protocol, REQ / REQ_ACK / CONFIRM / CONFIRM_ACK / SCHEDULE / SCHEDULE_ACK /
--           RELEASE / RELEASE_ACK, UDP port 7772; the
--           CREATE carried by a REQ is dissected as a qll layer (qll.*) after the egp layer
--   qframe  quantum frame (a photon)                 EtherType 0x88B5
--
-- Every field abbreviation is <proto>.<scapy field name> of the reference scapy layers in
-- protocols/packets/*.py, and value strings use the scapy enum names, so
-- tests/tshark_util.py can compare tshark's dissection with scapy's field by field.
-- Short or malformed messages get expert info (group Malformed) instead of an error.

local HERALD_PORT, LINK_SERVICE_PORT, EGP_PORT = 7770, 7771, 7772
local QFRAME_ETHERTYPE = 0x88B5
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
local QHP_TYPES = {[1] = "HERALD", [2] = "REPORT"}
local OUTCOMES = {[0] = "FAILURE", [1] = "SUCCESS"}
local SCHEMES = {[1] = "DOUBLE_CLICK", [2] = "SINGLE_CLICK", [3] = "SOURCE", [4] = "COUPLER"}
local FRAME_TYPES = {[1] = "PHOTON"}
local QLL_TYPES = {[1] = "ACK", [2] = "OK_K", [3] = "OK_M", [4] = "ERR"}
local TPE = {[0] = "K", [1] = "M"}
local TIME_UNITS = {[0] = "us", [1] = "ms", [2] = "s", [3] = "unused"}
local TIME_UNIT_NS = {[0] = 1000, [1] = 1000000, [2] = 1000000000}
local RANDOM_BASIS = {[0] = "NONE", [1] = "X_Z", [2] = "X_Y_Z", [3] = "CHSH"}
local BASES = {[0] = "Z", [1] = "X", [2] = "Y", [3] = "Z_ROT_PLUS_PI4_Y", [4] = "Z_ROT_MINUS_PI4_Y"}
local ERROR_CODES = {[1] = "UNSUPP", [2] = "CREATE", [3] = "REJECTED", [4] = "OTHER",
                     [5] = "EXPIRE", [6] = "TIMEOUT", [7] = "NOTIME", [8] = "NORES"}
local EGP_TYPES = {[1] = "REQ", [2] = "REQ_ACK", [3] = "CONFIRM", [4] = "CONFIRM_ACK", [5] = "SCHEDULE",
                   [6] = "SCHEDULE_ACK", [7] = "RELEASE", [8] = "RELEASE_ACK"}
local EGP_STATUS = {[0] = "ACCEPTED"}
for k, v in pairs(ERROR_CODES) do EGP_STATUS[k] = v end

local FIDELITY_SCALE = 65535

---------------------------------------------------------------------------------------------
-- Table-driven message layouts

local CTOR = {[1] = ProtoField.uint8, [2] = ProtoField.uint16, [4] = ProtoField.uint32,
              [8] = ProtoField.uint64}

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

-- spec: {name, label, offset, size, mask = m, vals = t, note = f(value) -> text}
local function layout(reg, size, specs)
    local lay = {size = size, fields = {}}
    for _, s in ipairs(specs) do
        local name, label, offset, fsize = s[1], s[2], s[3], s[4]
        local abbr = reg.pname .. "." .. name
        local key = abbr .. "/" .. fsize .. "/" .. tostring(s.mask or 0)
        local pf = reg.by_key[key]
        if pf == nil then
            pf = CTOR[fsize](abbr, label, base.DEC, s.vals, s.mask)
            reg.by_key[key] = pf
            table.insert(reg.list, pf)
        end
        table.insert(lay.fields, {
            pf = pf, name = name, label = label, offset = offset, size = fsize,
            mask = s.mask, shift = s.mask and mask_shift(s.mask) or 0, vals = s.vals,
            note = s.note,
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

local function register(proto, reg, ex, extra)
    local fields = {}
    for _, pf in ipairs(reg.list) do table.insert(fields, pf) end
    for _, pf in ipairs(extra or {}) do table.insert(fields, pf) end
    proto.fields = fields
    proto.experts = {ex.short, ex.trailing, ex.version, ex.undefined, ex.unknown}
end

-- Adds the fields of `lay` that fit in `buf` to `tree`; returns their values by name and
-- whether the whole message was present. 64-bit values are UInt64 objects.
local function add_fields(tree, buf, lay, ex, title)
    local n = buf:len()
    local values = {}
    for _, f in ipairs(lay.fields) do
        if f.offset + f.size > n then
            tree:add_proto_expert_info(ex.short, string.format(
                "%s is %d bytes, only %d present", title, lay.size, n))
            return values, false
        end
        local range = buf(f.offset, f.size)
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
        elseif f.vals and f.vals[v] == nil then
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
register(qhp, qhp_reg, qhp_ex, {qhp_trailing})

function qhp.dissector(buf, pinfo, root)
    pinfo.cols.protocol = "QHP"
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
register(qframe, qframe_reg, qframe_ex)

function qframe.dissector(buf, pinfo, root)
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
    -- Bytes after the frame are Ethernet padding; the ethertype dissector shows them.
    return QFRAME.size
end

---------------------------------------------------------------------------------------------
-- QLL: link-layer service messages (protocols/packets/linkservice.py)

local qll = Proto("qll", "QNet Link Layer Service (draft-dahlberg-ll-quantum-03)")
local qll_reg = registry("qll")
local qll_ex = expert_set("qll", "QLL")
local qll_trailing = ProtoField.bytes("qll.trailing_bytes", "Trailing bytes")

local function max_time_note(v, values)
    if v == 0 then return "no limit" end
    local unit = TIME_UNIT_NS[values.tu]
    if unit == nil then return "time unit 11 is unused" end
    return string.format("%d %s", v, TIME_UNITS[values.tu])
end

local QLL_CREATE = layout(qll_reg, 24, {
    {"remote_node_id", "Remote Node ID", 0, 4},
    {"minimum_fidelity", "Minimum Fidelity", 4, 2, note = fidelity_note},
    {"tu", "Time Unit", 6, 2, mask = 0xC000, vals = TIME_UNITS},
    {"max_time", "Max Time", 6, 2, mask = 0x3FFF, note = max_time_note},
    {"purpose_id", "Purpose ID", 8, 2},
    {"number", "Number", 10, 2},
    {"priority", "Priority", 12, 1, mask = 0xE0},
    {"tpe", "Type of Request (TPE)", 12, 1, mask = 0x10, vals = TPE},
    {"ato", "Atomic (ATO)", 12, 1, mask = 0x08},
    {"con", "Consecutive (CON)", 12, 1, mask = 0x04},
    {"rl", "Random Basis Local (RL)", 12, 1, mask = 0x03, vals = RANDOM_BASIS},
    {"rr", "Random Basis Remote (RR)", 13, 1, mask = 0xC0, vals = RANDOM_BASIS},
    {"reserved", "Reserved", 13, 1, mask = 0x3F},
    {"pl1", "PL1", 14, 1}, {"pl2", "PL2", 15, 1}, {"pr1", "PR1", 16, 1}, {"pr2", "PR2", 17, 1},
    {"rotx1l", "ROTX1L", 18, 1, note = angle_note}, {"rotyl", "ROTYL", 19, 1, note = angle_note},
    {"rotx2l", "ROTX2L", 20, 1, note = angle_note}, {"rotx1r", "ROTX1R", 21, 1, note = angle_note},
    {"rotyr", "ROTYR", 22, 1, note = angle_note}, {"rotx2r", "ROTX2R", 23, 1, note = angle_note},
})

local TYPE_FIELD = {"type", "Type", 0, 4, mask = 0xF0000000, vals = QLL_TYPES}
local CREATE_ID_FIELD = {"create_id", "Create ID", 0, 4, mask = 0x0FFFF000}

local QLL_UPWARD = {
    [1] = layout(qll_reg, 4, {
        TYPE_FIELD, CREATE_ID_FIELD,
        {"unused", "Unused", 0, 4, mask = 0x00000FFF},
    }),
    [2] = layout(qll_reg, 16, {
        TYPE_FIELD, CREATE_ID_FIELD,
        {"lqid", "Logical Qubit ID (LQID)", 0, 4, mask = 0x00000F00},
        {"d", "Directionality (D)", 0, 4, mask = 0x00000080},
        {"bell_state", "Bell State", 0, 4, mask = 0x00000060, vals = BELL_STATES},
        {"unused", "Unused", 0, 4, mask = 0x0000001F},
        {"sequence_number", "Sequence Number", 4, 2},
        {"purpose_id", "Purpose ID", 6, 2},
        {"remote_node_id", "Remote Node ID", 8, 4},
        {"goodness", "Goodness", 12, 2, note = fidelity_note},
        {"time_of_goodness", "Time of Goodness (us mod 2^16)", 14, 2},
    }),
    [3] = layout(qll_reg, 16, {
        TYPE_FIELD, CREATE_ID_FIELD,
        {"m", "Measurement Outcome (M)", 0, 4, mask = 0x00000800},
        {"d", "Directionality (D)", 0, 4, mask = 0x00000400},
        {"basis", "Basis", 0, 4, mask = 0x00000380, vals = BASES},
        {"bell_state", "Bell State", 0, 4, mask = 0x00000060, vals = BELL_STATES},
        {"unused", "Unused", 0, 4, mask = 0x0000001F},
        {"sequence_number", "Sequence Number", 4, 2},
        {"purpose_id", "Purpose ID", 6, 2},
        {"remote_node_id", "Remote Node ID", 8, 4},
        {"goodness", "Goodness", 12, 2, note = fidelity_note},
        {"unused2", "Unused", 14, 2},
    }),
    [4] = layout(qll_reg, 12, {
        TYPE_FIELD, CREATE_ID_FIELD,
        {"err", "Error Code (ERR)", 0, 4, mask = 0x00000F00, vals = ERROR_CODES},
        {"s", "Expire by Sequence Numbers (S)", 0, 4, mask = 0x00000080},
        {"unused", "Unused", 0, 4, mask = 0x0000007F},
        {"sequence_number_low", "Sequence Number Low", 4, 2},
        {"sequence_number_high", "Sequence Number High", 6, 2},
        {"origin_node", "Origin Node", 8, 4},
    }),
}
local QLL_TYPE_ONLY = layout(qll_reg, 1, {{"type", "Type", 0, 1, mask = 0xF0, vals = QLL_TYPES}})
register(qll, qll_reg, qll_ex, {qll_trailing})

local function create_summary(v)
    return string.format("CREATE remote=%d number=%d tpe=%s purpose=%d min_fidelity=%.4f",
                         v.remote_node_id, v.number, name_of(TPE, v.tpe), v.purpose_id,
                         v.minimum_fidelity / FIDELITY_SCALE)
end

-- Dissects a CREATE as a qll layer under `root`; returns the Info text.
local function dissect_create(buf, pinfo, root)
    local tree = proto_item(root, qll, buf, QLL_CREATE.size)
    local v, complete = add_fields(tree, buf, QLL_CREATE, qll_ex, "CREATE")
    if not complete then return "CREATE [truncated]" end
    check_trailing(tree, buf, QLL_CREATE, qll_ex, qll_trailing)
    local info = create_summary(v)
    tree:append_text(", " .. info)
    return info
end

local function upward_summary(kind, v)
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

local function dissect_upward(buf, pinfo, root)
    local n = buf:len()
    local kind = n > 0 and rshift(buf(0, 1):uint(), 4) or nil
    local lay = kind and QLL_UPWARD[kind]
    if lay == nil then
        local tree = proto_item(root, qll, buf, n)
        if n == 0 then
            tree:add_proto_expert_info(qll_ex.short, "Empty link-layer message")
        else
            add_fields(tree, buf, QLL_TYPE_ONLY, qll_ex, "QLL")
            tree:add_proto_expert_info(qll_ex.unknown, string.format("No link-layer message of Type %d", kind))
        end
        return "QLL [unknown type]"
    end
    local tree = proto_item(root, qll, buf, lay.size)
    if n < 4 then add_fields(tree, buf, QLL_TYPE_ONLY, qll_ex, "QLL") end
    local v, complete = add_fields(tree, buf, lay, qll_ex, QLL_TYPES[kind])
    if not complete then return QLL_TYPES[kind] .. " [truncated]" end
    check_trailing(tree, buf, lay, qll_ex, qll_trailing)
    local info = upward_summary(kind, v)
    tree:append_text(", " .. info)
    return info
end

-- to_service: a CREATE travelling to the link-layer service; otherwise a reply from it.
local function dissect_qll(buf, pinfo, root, to_service)
    pinfo.cols.protocol = "QLL"
    local info
    if to_service then
        info = dissect_create(buf, pinfo, root)
    else
        info = dissect_upward(buf, pinfo, root)
    end
    pinfo.cols.info:set(info)
    return buf:len()
end

function qll.dissector(buf, pinfo, root)
    return dissect_qll(buf, pinfo, root, pinfo.dst_port == LINK_SERVICE_PORT)
end

---------------------------------------------------------------------------------------------
-- EGP: link-layer peer protocol (protocols/packets/egp.py)

local egp = Proto("egp", "QNet EGP Peer Protocol")
local egp_reg = registry("egp")
local egp_ex = expert_set("egp", "EGP")
local egp_trailing = ProtoField.bytes("egp.trailing_bytes", "Trailing bytes")
local EGP_HEADER = layout(egp_reg, 16, {
    {"version", "Version", 0, 1},
    {"msg_type", "Message Type", 1, 1, vals = EGP_TYPES},
    {"status", "Status", 2, 1, vals = EGP_STATUS},
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
local EGP_PAIR_TYPES = {[3] = true, [4] = true, [7] = true, [8] = true}
local EGP_RUN_TYPES = {[5] = true, [6] = true}

local EGP_REQ = 1
local CREATE_SIZE = QLL_CREATE.size

function egp.dissector(buf, pinfo, root)
    pinfo.cols.protocol = "EGP"
    local n = buf:len()
    local tree = proto_item(root, egp, buf, EGP_HEADER.size)
    local v, complete = add_fields(tree, buf, EGP_HEADER, egp_ex, "EGP header")
    if not complete then
        pinfo.cols.info:set("EGP [truncated]")
        return n
    end
    local info = string.format("%s %s create_id=%d link=%d origin=%d qseq=%d", name_of(EGP_TYPES, v.msg_type),
                               name_of(EGP_STATUS, v.status), v.create_id, v.link_id, v.origin_node,
                               v.queue_seq)
    tree:append_text(", " .. info)
    local body = n - EGP_HEADER.size
    if EGP_PAIR_TYPES[v.msg_type] then
        local p, whole = add_fields(tree, buf, EGP_PAIR, egp_ex, "EGP pair")
        if whole then
            info = info .. string.format(" attempt=%s seq=%d", tostring(p.attempt_seq), p.sequence_number)
            check_trailing(tree, buf, EGP_PAIR, egp_ex, egp_trailing)
        else
            info = info .. " [truncated]"
        end
    elseif EGP_RUN_TYPES[v.msg_type] then
        local r, whole = add_fields(tree, buf, EGP_RUN, egp_ex, "EGP run")
        if whole then
            info = info .. string.format(" run=%d pairs=%d", r.run, r.pairs)
            check_trailing(tree, buf, EGP_RUN, egp_ex, egp_trailing)
        else
            info = info .. " [truncated]"
        end
    elseif v.msg_type == EGP_REQ then
        if body < CREATE_SIZE then
            tree:add_proto_expert_info(egp_ex.short, string.format(
                "REQ carries a %d-byte CREATE, only %d bytes present", CREATE_SIZE, body))
            info = info .. " [truncated]"
        end
        if body > 0 then
            info = info .. " | " .. dissect_create(buf(EGP_HEADER.size):tvb(), pinfo, root)
        end
    elseif body > 0 then
        check_trailing(tree, buf, EGP_HEADER, egp_ex, egp_trailing)
    end
    pinfo.cols.info:set(info)
    return n
end

---------------------------------------------------------------------------------------------
-- Registration

local udp_port = DissectorTable.get("udp.port")
udp_port:add(HERALD_PORT, qhp)
udp_port:add(LINK_SERVICE_PORT, qll)
udp_port:add(EGP_PORT, egp)
DissectorTable.get("ethertype"):add(QFRAME_ETHERTYPE, qframe)

---------------------------------------------------------------------------------------------
-- Multi-process mode (qnet up, docs/wire.md section 8): live traffic on the loopback
-- interface uses the port map  real port = base + 16 * node_id + slot. Set the preference
-- (tshark -o qnetmp.base_port:40000) and every mapped port is dissected by its slot:
-- 15 the timestamp sideband (sent from the sender's service port, so it is checked first),
-- 0 qhp, 1 link-layer service, 2 egp, 3-4 PTP (Wireshark's own dissector), 5-14 the
-- applications' side of the link-layer service.

local qnetmp = Proto("qnetmp", "QNet multi-process port map")
qnetmp.prefs.base_port = Pref.uint("Base port", 0,
    "First UDP port of the qnet up port map (0: off); node i's slot s is base + 16*i + s")
local mp_arrival = ProtoField.int64("qnetmp.arrival", "Arrival (emulated ns)")
local mp_digest = ProtoField.bytes("qnetmp.digest", "Payload digest (BLAKE2b-64)")
local mp_node = ProtoField.uint16("qnetmp.node_id", "Destination node id")
qnetmp.fields = {mp_arrival, mp_digest, mp_node}
local MP_PORTS_PER_NODE, MP_MAX_NODES, MP_SIDEBAND = 16, 1024, 15
local mp_registered = nil

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
    if dslot == 0 or sslot == 0 then return qhp.dissector(buf, pinfo, root) end
    if dslot == 1 then return dissect_qll(buf, pinfo, root, true) end
    if sslot == 1 then return dissect_qll(buf, pinfo, root, false) end
    if dslot == 2 then return egp.dissector(buf, pinfo, root) end
    if dslot == 3 or dslot == 4 then
        local ptp = Dissector.get("ptp")
        return ptp:call(buf, pinfo, root)
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

function qnetmp.prefs_changed() mp_register() end
mp_register()
