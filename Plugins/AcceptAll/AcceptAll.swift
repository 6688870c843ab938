import PolicyKit
