// swift-tools-version:5.9
// The Swift package of the SDK's Swift bindings: the library product
// `Oid4vciWallet` (`import Oid4vciWallet`), the generated
// bindings/swift/generated/Oid4vciWallet.swift on top of the C module
// `oid4vci_walletFFI` (the Rust library's UniFFI scaffolding). See README.md,
// "iOS (Swift)".
//
// On Apple platforms the C module and the Rust library are the binary target
// Oid4vciWalletFFI: bindings/swift/Oid4vciWalletFFI.xcframework, which is not
// committed: build it first with the xcframework recipe in README.md (or, for
// a release, set `releasedXcframework` below to the zip attached to it and
// its checksum, `swift package compute-checksum Oid4vciWalletFFI.xcframework.zip`,
// so that the git repository works as a dependency without building anything).
//
// On Linux (CI: bindings/test-swift runs `swift build` and `swift test` in a
// Debian chroot) the C module is the header bindings/swift/generated/
// oid4vci_walletFFI.h (module map bindings/swift/LinuxFFI/module.modulemap)
// and the Rust library the cdylib, liboid4vci_wallet.so from
// `cargo build --lib --features uniffi`, found through `-Xlinker -L<dir>` when
// linking and LD_LIBRARY_PATH when running.
//
// The test target (bindings/swift/Tests/Oid4vciWalletTests) runs the binding
// checks against the reference issuers, whose URLs it takes from environment
// variables (OID4VCI_ISSUER, ...; bindings/test-swift sets them).

import PackageDescription

/// A release's prebuilt xcframework (zip URL and checksum); nil: the local one.
let releasedXcframework: (url: String, checksum: String)? = nil

let bindings = "bindings/swift"

#if os(Linux)
let ffiTarget: Target = .systemLibrary(name: "oid4vci_walletFFI", path: "\(bindings)/LinuxFFI")
#else
let ffiTarget: Target = releasedXcframework.map {
    .binaryTarget(name: "Oid4vciWalletFFI", url: $0.url, checksum: $0.checksum)
} ?? .binaryTarget(name: "Oid4vciWalletFFI", path: "\(bindings)/Oid4vciWalletFFI.xcframework")
#endif

let package = Package(
    name: "Oid4vciWallet",
    platforms: [.iOS(.v13), .macOS(.v10_15)],
    products: [
        .library(name: "Oid4vciWallet", targets: ["Oid4vciWallet"]),
    ],
    targets: [
        ffiTarget,
        .target(
            name: "Oid4vciWallet",
            dependencies: [.target(name: ffiTarget.name)],
            path: "\(bindings)/generated",
            exclude: ["oid4vci_walletFFI.h", "oid4vci_walletFFI.modulemap"],
            sources: ["Oid4vciWallet.swift"],
            linkerSettings: [
                // Linux: the cdylib. Apple: what the Rust static library uses
                // (the platform's certificate verification).
                .linkedLibrary("oid4vci_wallet", .when(platforms: [.linux])),
                .linkedFramework("Security", .when(platforms: [.iOS, .macOS])),
                .linkedFramework("CoreFoundation", .when(platforms: [.iOS, .macOS])),
            ]
        ),
        .testTarget(
            name: "Oid4vciWalletTests",
            dependencies: ["Oid4vciWallet"],
            path: "\(bindings)/Tests/Oid4vciWalletTests"
        ),
    ]
)
