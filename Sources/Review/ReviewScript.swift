/// The review page's JavaScript, from `Sources/Review/Scripts` (embedded in the binary at build time, so the
/// page written beside a recording needs nothing else). Everything from the manifest is put into the page
/// with `textContent` or `setAttribute`, never parsed as HTML.
enum ReviewScript {
    /// Runs first: any script error later on is written to `<body data-error>`, where tests look for it.
    static let errorTrap = String(decoding: PackageResources.error_trap_js, as: UTF8.self)

    /// Renders the page from the embedded JSON and sets `<body data-ok="1">` at the end.
    static let main = String(decoding: PackageResources.review_js, as: UTF8.self)
}
