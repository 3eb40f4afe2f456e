package replay

import (
	"encoding/binary"
	"hash/crc32"
)

// A frame is one checksummed binary record, as the vector write logs and
// the pathway snapshot store them:
//
//	length n u32 | crc32c of the length and payload u32 | payload, n bytes
//
// little-endian. Past a damaged frame, [NextFrame] finds the next one by
// its checksum, since a damaged length hides where it starts.

// FrameHeader is the bytes of a frame before its payload.
const FrameHeader = 8

// Castagnoli is the CRC-32C table of frames, and of the headers the logs
// and snapshots that hold them keep.
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendFrame appends payload to dst as a frame.
func AppendFrame(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	crc := crc32.Update(crc32.Checksum(dst[len(dst)-4:], Castagnoli), Castagnoli, payload)
	return append(binary.LittleEndian.AppendUint32(dst, crc), payload...)
}

// FrameLen is the payload length that header, a frame's first
// FrameHeader bytes, gives.
func FrameLen(header []byte) int64 { return int64(binary.LittleEndian.Uint32(header)) }

// FrameChecks reports whether payload is the one header checksums.
func FrameChecks(header, payload []byte) bool {
	crc := crc32.Update(crc32.Checksum(header[:4], Castagnoli), Castagnoli, payload)
	return crc == binary.LittleEndian.Uint32(header[4:])
}

// FrameAt returns the payload of the frame at the start of b if a whole
// frame of at most max payload bytes starts there and checks.
func FrameAt(b []byte, max int64) (payload []byte, ok bool) {
	if len(b) < FrameHeader {
		return nil, false
	}
	n := FrameLen(b)
	if n > max || FrameHeader+n > int64(len(b)) {
		return nil, false
	}
	payload = b[FrameHeader : FrameHeader+n : FrameHeader+n]
	return payload, FrameChecks(b, payload)
}

// NextFrame returns the first offset after the start of b where a whole
// frame of at most max payload bytes checks, or -1.
func NextFrame(b []byte, max int64) int {
	for p := 1; p+FrameHeader <= len(b); p++ {
		if _, ok := FrameAt(b[p:], max); ok {
			return p
		}
	}
	return -1
}
