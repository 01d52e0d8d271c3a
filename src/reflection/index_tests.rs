//! Unit tests of the index (index.rs), on descriptors written out by hand so
//! every kind of declaration, extensions included (proto2), is present.

use bytes::Bytes;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto, OneofDescriptorProto,
    ServiceDescriptorProto, descriptor_proto::ExtensionRange,
};

use super::{Error, Index, Kind, SentFiles, Symbol};

fn field(name: &str, number: i32, kind: Type) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn extension(name: &str, number: i32, extendee: &str) -> FieldDescriptorProto {
    FieldDescriptorProto {
        extendee: Some(extendee.into()),
        ..field(name, number, Type::Int32)
    }
}

fn enumeration(name: &str, values: &[&str]) -> EnumDescriptorProto {
    EnumDescriptorProto {
        name: Some(name.into()),
        value: values
            .iter()
            .enumerate()
            .map(|(number, value)| EnumValueDescriptorProto {
                name: Some((*value).into()),
                number: Some(number as i32),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn message(name: &str) -> DescriptorProto {
    DescriptorProto {
        name: Some(name.into()),
        ..Default::default()
    }
}

fn file(name: &str, package: &str, dependency: &[&str]) -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some(name.into()),
        package: (!package.is_empty()).then(|| package.into()),
        dependency: dependency.iter().map(|d| (*d).into()).collect(),
        syntax: Some("proto2".into()),
        ..Default::default()
    }
}

/// `test.base`: `Base` (a field, a oneof, a nested message with a nested
/// enum, extension range 100..200) and a top-level enum.
fn base() -> FileDescriptorProto {
    let mut inner = message("Inner");
    inner.enum_type.push(enumeration("Color", &["RED", "BLUE"]));
    let mut base = message("Base");
    base.field.push(field("id", 1, Type::Int32));
    base.field.push(FieldDescriptorProto {
        oneof_index: Some(0),
        ..field("a", 2, Type::Int32)
    });
    base.oneof_decl.push(OneofDescriptorProto {
        name: Some("choice".into()),
        ..Default::default()
    });
    base.nested_type.push(inner);
    base.extension_range.push(ExtensionRange {
        start: Some(100),
        end: Some(200),
        ..Default::default()
    });
    let mut file = file("test/base.proto", "test.base", &[]);
    file.message_type.push(base);
    file.enum_type.push(enumeration("Top", &["TOP_ZERO"]));
    file
}

/// `test.ext`: extends `Base` at the top level (100) and inside `Holder`
/// (150), and declares a service.
fn ext() -> FileDescriptorProto {
    let mut holder = message("Holder");
    holder
        .extension
        .push(extension("note", 150, ".test.base.Base"));
    let mut file = file("test/ext.proto", "test.ext", &["test/base.proto"]);
    file.message_type.push(holder);
    file.extension
        .push(extension("weight", 100, ".test.base.Base"));
    file.service.push(ServiceDescriptorProto {
        name: Some("Probe".into()),
        method: vec![MethodDescriptorProto {
            name: Some("Ping".into()),
            input_type: Some(".test.base.Base".into()),
            output_type: Some(".test.base.Base".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    file
}

/// `test.top`: imports both, and a service named to sort before `Probe`.
fn top() -> FileDescriptorProto {
    let mut file = file(
        "test/top.proto",
        "test.top",
        &["test/ext.proto", "test/base.proto"],
    );
    file.service.push(ServiceDescriptorProto {
        name: Some("Alpha".into()),
        ..Default::default()
    });
    file
}

fn encode(files: Vec<FileDescriptorProto>) -> Bytes {
    Bytes::from(FileDescriptorSet { file: files }.encode_to_vec())
}

fn standard() -> Index {
    Index::build(&[
        encode(vec![base(), ext()]),
        encode(vec![base(), ext(), top()]),
    ])
    .expect("valid descriptors")
}

fn names(files: &[&super::File]) -> Vec<String> {
    files.iter().map(|f| f.name.clone()).collect()
}

#[test]
fn every_declaration_is_a_symbol_of_its_file() {
    let index = standard();
    let base = index.file_by_name("test/base.proto").unwrap();
    let ext = index.file_by_name("test/ext.proto").unwrap();
    let cases = [
        ("test.base.Base", base, Kind::Message),
        ("test.base.Base.id", base, Kind::Field),
        ("test.base.Base.a", base, Kind::Field),
        ("test.base.Base.choice", base, Kind::Oneof),
        ("test.base.Base.Inner", base, Kind::Message),
        ("test.base.Base.Inner.Color", base, Kind::Enum),
        // Enum values sit beside their enum, in the enclosing scope.
        ("test.base.Base.Inner.RED", base, Kind::EnumValue),
        ("test.base.Base.Inner.BLUE", base, Kind::EnumValue),
        ("test.base.Top", base, Kind::Enum),
        ("test.base.TOP_ZERO", base, Kind::EnumValue),
        ("test.ext.weight", ext, Kind::Extension),
        ("test.ext.Holder", ext, Kind::Message),
        ("test.ext.Holder.note", ext, Kind::Extension),
        ("test.ext.Probe", ext, Kind::Service),
        ("test.ext.Probe.Ping", ext, Kind::Method),
    ];
    for (name, file, kind) in cases {
        assert_eq!(index.symbol(name), Some(Symbol { file, kind }), "{name}");
    }
    for missing in [
        "test.base",                      // a package is no symbol
        ".test.base.Base",                // names are sent without the leading dot
        "test.base.Base.Inner.Color.RED", // not where C++ scoping puts it
        "test.base.Bas",
        "Base",
        "",
    ] {
        assert_eq!(index.symbol(missing), None, "{missing:?}");
    }
}

#[test]
fn repeated_file_names_keep_the_first_registration() {
    let index = standard();
    // base.proto and ext.proto came in both sets: three files, not five.
    assert_eq!(index.len(), 3);
    let mut changed = base();
    changed.message_type[0].name = Some("Renamed".into());
    let index = Index::build(&[encode(vec![base()]), encode(vec![changed])]).unwrap();
    assert_eq!(index.len(), 1);
    assert!(index.symbol("test.base.Base").is_some());
    assert_eq!(index.symbol("test.base.Renamed"), None);
}

#[test]
fn files_keep_their_registered_bytes_without_a_copy() {
    let set = encode(vec![base(), ext()]);
    let index = Index::build(std::slice::from_ref(&set)).unwrap();
    let ext_number = index.file_by_name("test/ext.proto").unwrap();
    let encoded = &index.files[ext_number].encoded;
    assert_eq!(encoded.as_ref(), ext().encode_to_vec().as_slice());
    let range = set.as_ptr_range();
    assert!(
        range.contains(&encoded.as_ptr()),
        "a slice of the registered set"
    );
}

#[test]
fn services_of_every_set_sorted() {
    assert_eq!(standard().services(), ["test.ext.Probe", "test.top.Alpha"]);
}

#[test]
fn extensions_by_extendee_and_number() {
    let index = standard();
    let ext = index.file_by_name("test/ext.proto");
    assert_eq!(index.extension("test.base.Base", 100), ext);
    assert_eq!(index.extension("test.base.Base", 150), ext);
    assert_eq!(index.extension("test.base.Base", 101), None);
    assert_eq!(index.extension(".test.base.Base", 100), None);
    assert_eq!(index.extension("test.ext.Holder", 150), None);

    assert_eq!(
        index.extension_numbers("test.base.Base"),
        Some(vec![100, 150])
    );
    // A message nothing extends: known, no numbers.
    assert_eq!(index.extension_numbers("test.ext.Holder"), Some(vec![]));
    // Not a message: a field, an enum, an unknown name.
    assert_eq!(index.extension_numbers("test.base.Base.id"), None);
    assert_eq!(index.extension_numbers("test.base.Top"), None);
    assert_eq!(index.extension_numbers("test.base.Nope"), None);
}

#[test]
fn a_response_carries_the_file_then_unsent_imports_breadth_first() {
    let index = standard();
    let top = index.file_by_name("test/top.proto").unwrap();
    let ext = index.file_by_name("test/ext.proto").unwrap();
    let base = index.file_by_name("test/base.proto").unwrap();

    let mut sent = SentFiles::new(&index);
    let first = index.files_to_send(top, &mut sent);
    assert_eq!(
        names(&first),
        ["test/top.proto", "test/ext.proto", "test/base.proto"]
    );
    // Asked again: the file itself always, its imports not again.
    assert_eq!(
        names(&index.files_to_send(ext, &mut sent)),
        ["test/ext.proto"]
    );
    assert_eq!(
        names(&index.files_to_send(top, &mut sent)),
        ["test/top.proto"]
    );

    // Another stream starts from nothing.
    let mut fresh = SentFiles::new(&index);
    assert_eq!(
        names(&index.files_to_send(ext, &mut fresh)),
        ["test/ext.proto", "test/base.proto"]
    );
    assert_eq!(
        names(&index.files_to_send(base, &mut fresh)),
        ["test/base.proto"]
    );
    assert_eq!(
        names(&index.files_to_send(top, &mut fresh)),
        ["test/top.proto"]
    );
}

#[test]
fn a_name_in_two_files_is_an_error() {
    let mut copy = ext();
    copy.name = Some("test/copy.proto".into());
    copy.extension.clear();
    copy.message_type.clear();
    let err = Index::build(&[encode(vec![base(), ext(), copy])]).unwrap_err();
    assert_eq!(
        err,
        Error::DuplicateSymbol {
            symbol: "test.ext.Probe".into(),
            first: "test/ext.proto".into(),
            second: "test/copy.proto".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "test.ext.Probe is declared in both test/ext.proto and test/copy.proto"
    );
}

#[test]
fn an_extension_number_used_twice_is_an_error() {
    let mut other = file("test/other.proto", "test.other", &["test/base.proto"]);
    other
        .extension
        .push(extension("clash", 150, ".test.base.Base"));
    let err = Index::build(&[encode(vec![base(), ext(), other])]).unwrap_err();
    assert_eq!(
        err,
        Error::DuplicateExtension {
            extendee: "test.base.Base".into(),
            number: 150,
            first: "test/ext.proto".into(),
            second: "test/other.proto".into(),
        }
    );
}

#[test]
fn an_import_no_set_provides_is_an_error() {
    let err = Index::build(&[encode(vec![ext()])]).unwrap_err();
    assert_eq!(
        err,
        Error::MissingDependency {
            file: "test/ext.proto".into(),
            dependency: "test/base.proto".into(),
        }
    );
}

#[test]
fn bytes_that_are_no_descriptor_set_are_an_error() {
    // Set #1: field 1 says 10 bytes follow, 2 do.
    let err = Index::build(&[
        encode(vec![base()]),
        Bytes::from_static(b"\x0a\x0a\x01\x02"),
    ])
    .unwrap_err();
    assert!(matches!(err, Error::InvalidSet { set: 1, .. }), "{err:?}");
    // A file entry that is not a FileDescriptorProto (field 1 as a varint).
    let err = Index::build(&[Bytes::from_static(b"\x0a\x02\x08\x01")]).unwrap_err();
    assert!(matches!(err, Error::InvalidSet { set: 0, .. }), "{err:?}");
    let err = Index::build(&[encode(vec![FileDescriptorProto::default()])]).unwrap_err();
    assert_eq!(err, Error::UnnamedFile { set: 0 });
    // An empty set is valid, and empty.
    let index = Index::build(&[Bytes::new()]).unwrap();
    assert_eq!((index.len(), index.services().len()), (0, 0));
}

#[test]
fn a_file_without_package_declares_bare_names() {
    let mut bare = file("bare.proto", "", &[]);
    bare.message_type.push(message("Bare"));
    bare.enum_type.push(enumeration("Mode", &["OFF"]));
    let index = Index::build(&[encode(vec![bare])]).unwrap();
    assert_eq!(index.symbol("Bare").map(|s| s.kind), Some(Kind::Message));
    assert_eq!(index.symbol("OFF").map(|s| s.kind), Some(Kind::EnumValue));
    assert_eq!(index.symbol(".Bare"), None);
}
