/// Reads one field of a struct a plugin owns (a vtable) only when the size
/// the plugin declared in its leading `uint32_t struct_size` covers the whole
/// field, so a plugin built against an older minor is never read past its end.
///
/// The loader has already checked that the declared size is at least the 1.0
/// size; this guards fields appended by later minors as well.
func declaredField<Struct, Wrapped>(
    _ base: UnsafePointer<Struct>, _ field: KeyPath<Struct, Wrapped?>
) -> Wrapped? {
    let declared = Int(UnsafeRawPointer(base).load(as: UInt32.self))
    guard let offset = MemoryLayout<Struct>.offset(of: field),
        offset + MemoryLayout<Wrapped?>.size <= declared
    else { return nil }
    return UnsafeRawPointer(base).load(fromByteOffset: offset, as: Wrapped?.self)
}
