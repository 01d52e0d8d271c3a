//! The embedded descriptors (`FILE_DESCRIPTOR_SET`, src/descriptors.rs): real
//! `.proto` files go through the builder into a temporary directory, and the
//! generated constant and the `<package>.fds.bin` beside it are checked: one
//! set per package with services, its transitive imports included and ordered
//! before their importers, custom options kept, and the switch that turns it off.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use prost::Message;
use prost_types::FileDescriptorSet;

const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/protos");

/// A fresh directory per call: tests run in parallel in one process.
fn temp_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "h2grpc-build-fds-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles `protos` (under `include`) into a fresh directory with default settings.
fn compile(protos: &[PathBuf], include: &Path) -> PathBuf {
    let dir = temp_dir("out");
    h2grpc_build::configure()
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .compile(protos, &[include])
        .unwrap();
    dir
}

fn read_set(path: &Path) -> FileDescriptorSet {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    FileDescriptorSet::decode(bytes.as_slice()).unwrap()
}

fn names(set: &FileDescriptorSet) -> Vec<&str> {
    set.file.iter().map(|f| f.name()).collect()
}

/// The `.fds.bin` files in `dir`, sorted.
fn set_files(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".fds.bin"))
        .collect();
    found.sort();
    found
}

const CONST_LINE: &str =
    "pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(\"ecommerce.fds.bin\");";

#[test]
fn package_file_carries_its_set_with_imports_first() {
    let dir = compile(
        &[Path::new(PROTOS).join("order_management.proto")],
        Path::new(PROTOS),
    );
    let code = fs::read_to_string(dir.join("ecommerce.rs")).unwrap();
    assert!(code.contains(CONST_LINE), "{code}");
    assert!(
        code.contains("/// The encoded `google.protobuf.FileDescriptorSet` of package `ecommerce`"),
        "{code}"
    );

    let set = read_set(&dir.join("ecommerce.fds.bin"));
    assert_eq!(
        names(&set),
        ["google/protobuf/wrappers.proto", "order_management.proto"]
    );
    let ours = &set.file[1];
    assert_eq!(ours.package(), "ecommerce");
    assert_eq!(ours.dependency, ["google/protobuf/wrappers.proto"]);
    assert_eq!(ours.service[0].name(), "OrderManagement");
    let methods: Vec<_> = ours.service[0].method.iter().map(|m| m.name()).collect();
    assert_eq!(
        methods,
        [
            "addOrder",
            "getOrder",
            "searchOrders",
            "updateOrders",
            "processOrders"
        ]
    );
    // The import is the real descriptor, not a name: StringValue with its field.
    let wrappers = &set.file[0];
    let string_value = wrappers
        .message_type
        .iter()
        .find(|m| m.name() == "StringValue")
        .expect("StringValue in wrappers.proto");
    assert_eq!(string_value.field[0].name(), "value");
    // Source info is kept: grpcurl's `describe` shows the proto comments.
    let comments = ours.source_code_info.as_ref().expect("source info");
    assert!(
        comments
            .location
            .iter()
            .any(|l| l.leading_comments().contains("Adds an order")),
        "the addOrder comment is in the source info"
    );
    assert_eq!(set_files(&dir), ["ecommerce.fds.bin"]);
}

#[test]
fn only_packages_with_services_get_a_set() {
    // inventory.proto (shop.inventory, two services) imports empty, wrappers and
    // common/ids.proto (shop.common, messages only).
    let dir = compile(
        &[Path::new(PROTOS).join("inventory.proto")],
        Path::new(PROTOS),
    );
    assert_eq!(set_files(&dir), ["shop.inventory.fds.bin"]);
    let inventory = fs::read_to_string(dir.join("shop.inventory.rs")).unwrap();
    assert!(
        inventory.contains("include_bytes!(\"shop.inventory.fds.bin\")"),
        "{inventory}"
    );
    let common = fs::read_to_string(dir.join("shop.common.rs")).unwrap();
    assert!(!common.contains("FILE_DESCRIPTOR_SET"), "{common}");

    let set = read_set(&dir.join("shop.inventory.fds.bin"));
    assert_eq!(
        names(&set),
        [
            "google/protobuf/empty.proto",
            "google/protobuf/wrappers.proto",
            "common/ids.proto",
            "inventory.proto",
        ]
    );
}

#[test]
fn file_without_package_gets_underscore_set() {
    let dir = compile(
        &[Path::new(PROTOS).join("greeter.proto")],
        Path::new(PROTOS),
    );
    assert_eq!(set_files(&dir), ["_.fds.bin"]);
    let code = fs::read_to_string(dir.join("_.rs")).unwrap();
    assert!(code.contains("include_bytes!(\"_.fds.bin\")"), "{code}");
    assert!(code.contains("of package (no package)"), "{code}");
    assert_eq!(names(&read_set(&dir.join("_.fds.bin"))), ["greeter.proto"]);
}

/// a.proto → b.proto → c.proto, two files in package `deep`, one of them
/// importing b.proto again: every file once, each after what it imports.
#[test]
fn transitive_imports_in_dependency_order_each_once() {
    let src = temp_dir("deep-src");
    let write = |name: &str, text: &str| fs::write(src.join(name), text).unwrap();
    write(
        "c.proto",
        "syntax = \"proto3\";\npackage lower;\nmessage C { int32 n = 1; }\n",
    );
    write(
        "b.proto",
        "syntax = \"proto3\";\npackage middle;\nimport \"c.proto\";\nmessage B { lower.C c = 1; }\n",
    );
    write(
        "a.proto",
        "syntax = \"proto3\";\npackage deep;\nimport \"b.proto\";\n\
         service Deep { rpc Get(middle.B) returns (middle.B); }\n",
    );
    write(
        "a2.proto",
        "syntax = \"proto3\";\npackage deep;\nimport \"b.proto\";\nimport \"google/protobuf/empty.proto\";\n\
         message Extra { middle.B b = 1; google.protobuf.Empty e = 2; }\n",
    );
    let dir = compile(&[src.join("a.proto"), src.join("a2.proto")], &src);
    assert_eq!(set_files(&dir), ["deep.fds.bin"]);
    let set = read_set(&dir.join("deep.fds.bin"));
    assert_eq!(
        names(&set),
        [
            "c.proto",
            "b.proto",
            "a.proto",
            "google/protobuf/empty.proto",
            "a2.proto",
        ]
    );
}

/// A custom option is an extension of `google.protobuf.MessageOptions`;
/// `prost_types` has no field for it, so a decode/encode round trip would lose
/// it. The set keeps it: its bytes carry the option's value.
#[test]
fn custom_options_survive() {
    let src = temp_dir("options-src");
    fs::write(
        src.join("opts.proto"),
        "syntax = \"proto3\";\npackage opts;\nimport \"google/protobuf/descriptor.proto\";\n\
         extend google.protobuf.MessageOptions { string label = 50001; }\n\
         message Tagged { option (opts.label) = \"kept-through-the-set\"; int32 n = 1; }\n\
         service S { rpc M(Tagged) returns (Tagged); }\n",
    )
    .unwrap();
    let dir = compile(&[src.join("opts.proto")], &src);
    let bytes = fs::read(dir.join("opts.fds.bin")).unwrap();
    let needle = b"kept-through-the-set";
    assert!(
        bytes.windows(needle.len()).any(|w| w == needle),
        "the option value is in the encoded set"
    );
    let set = FileDescriptorSet::decode(bytes.as_slice()).unwrap();
    assert_eq!(
        names(&set),
        ["google/protobuf/descriptor.proto", "opts.proto"]
    );
    let ours = &set.file[1];
    assert_eq!(ours.extension[0].name(), "label");
    assert_eq!(ours.extension[0].number(), 50001);
    assert_eq!(
        ours.extension[0].extendee(),
        ".google.protobuf.MessageOptions"
    );
}

#[test]
fn switched_off_leaves_no_constant_and_no_file() {
    let dir = temp_dir("off");
    h2grpc_build::configure()
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .emit_file_descriptor_set(false)
        .compile(
            &[Path::new(PROTOS).join("order_management.proto")],
            &[PROTOS],
        )
        .unwrap();
    let code = fs::read_to_string(dir.join("ecommerce.rs")).unwrap();
    assert!(code.contains("pub mod order_management_server"), "{code}");
    assert!(!code.contains("FILE_DESCRIPTOR_SET"), "{code}");
    assert!(set_files(&dir).is_empty());
}

/// A second build with nothing changed leaves the set file as it was (its
/// mtime is what makes Cargo recompile the `include_bytes!`).
#[test]
fn unchanged_set_is_not_rewritten() {
    let dir = temp_dir("again");
    let build = || {
        h2grpc_build::configure()
            .out_dir(&dir)
            .emit_rerun_if_changed(false)
            .compile(
                &[Path::new(PROTOS).join("order_management.proto")],
                &[PROTOS],
            )
            .unwrap();
    };
    build();
    let path = dir.join("ecommerce.fds.bin");
    let first = fs::metadata(&path).unwrap().modified().unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    build();
    let second = fs::metadata(&path).unwrap().modified().unwrap();
    assert_eq!(second, old, "rewritten (first build at {first:?})");
}
